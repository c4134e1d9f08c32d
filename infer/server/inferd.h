/* tb-inferd's parts (private to infer/server): the config, the request
 * parser (JSON body to a generation request; fuzzed), stop-string matching,
 * API keys.  The daemon itself is server.c. */
#ifndef TB_INFERD_H
#define TB_INFERD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infer/tbinfer.h"

#define INFERD_MAX_LISTEN 8
#define INFERD_MAX_ORIGINS 8
#define INFERD_MAX_STOP 4		/* the OpenAI API's own limit */
#define INFERD_MAX_STOP_LEN 64

struct inferd_config {
	char model[1024];
	int gpus;			/* the first N GPUs; 0: all */
	uint32_t context;		/* 0: the model's */
	uint32_t hang_timeout_ms;
	char kernels[1024];
	char listen[INFERD_MAX_LISTEN][128];	/* "ADDR:PORT", "[V6]:PORT" */
	int nlisten;
	char unix_socket[108];		/* sun_path; "" for none */
	char tls_cert[1024], tls_key[1024];
	char api_keys[1024];		/* file of hashed keys; "" for none */
	char origins[INFERD_MAX_ORIGINS][256];	/* CORS: allowed origins */
	int norigins;
	bool open_health;		/* /health, /metrics without a key on a network listener */
	bool verify;
	unsigned queue;			/* requests waiting behind the one generating */
	size_t max_body;
	unsigned max_depth, max_messages;
	size_t max_chars;		/* all the prompt's text together */
	unsigned max_connections, per_ip_connections, connection_timeout_s;
	unsigned request_timeout_s;	/* for a request to arrive whole */
	char port_file[1024];		/* each listener's bound address written here */
};

void inferd_config_defaults(struct inferd_config *c);
/* One key = value (from the file, where "FILE:LINE", or the command line,
 * where "--key"); 0 or -EINVAL with err naming where and why. */
int inferd_config_set(struct inferd_config *c, const char *key, const char *value, const char *where, char *err,
		      size_t errlen);
/* The INI file: [inferd] then key = value lines, '#' comments.  A missing
 * file is an error only when must_exist. */
int inferd_config_load(struct inferd_config *c, const char *path, bool must_exist, char *err, size_t errlen);
/* Whole-config rules: a listener off loopback needs TLS and keys. */
int inferd_config_check(const struct inferd_config *c, char *err, size_t errlen);
/* Host part of "ADDR:PORT" is a loopback address (127/8, ::1, localhost). */
bool inferd_addr_is_loopback(const char *listen);

/* ---- requests ---- */
enum inferd_kind { INFERD_CHAT, INFERD_COMPLETION };

struct inferd_limits {
	unsigned max_depth, max_messages;
	size_t max_chars;
};

struct inferd_request {
	enum inferd_kind kind;
	struct tbi_message *msgs;	/* chat: roles are static strings, contents owned */
	size_t nmsgs;
	char *prompt;			/* completion */
	uint32_t max_tokens;		/* 0: as many as the context leaves */
	struct tbi_sampling sampling;
	bool stream, include_usage;
	char *stop[INFERD_MAX_STOP];
	size_t nstop;
};

/* Parses a request body: 0, or -EINVAL with a message and the name of the
 * offending field (param, "" when the body as a whole is wrong).  Unknown
 * fields are ignored; numbers are range-checked; seed_default is the seed
 * when the request gives none. */
int inferd_request_parse(const char *body, size_t len, enum inferd_kind kind, const struct inferd_limits *lim,
			 uint64_t seed_default, struct inferd_request *out, char *msg, size_t msglen,
			 const char **param);
void inferd_request_free(struct inferd_request *r);

/* ---- stop strings ---- */
/* Where the text may be shown up to: the first match of a stop string at
 * *stop_at (returns true), else how much of text can be streamed without
 * showing a prefix of a stop string that the next token could complete. */
bool inferd_stop_scan(const char *text, size_t len, char *const *stop, size_t nstop, size_t *stop_at,
		      size_t *visible);

/* ---- API keys ---- */
/* The file: one "sha256:HEX [name]" per line; it must not be readable by
 * group or others.  Loaded into hashes[n][32]. */
#define INFERD_MAX_KEYS 64
struct inferd_keys {
	uint8_t hash[INFERD_MAX_KEYS][32];
	int n;
};
int inferd_keys_load(const char *path, struct inferd_keys *k, char *err, size_t errlen);
/* The bearer token matches a key (every stored hash compared, in constant time). */
bool inferd_keys_check(const struct inferd_keys *k, const char *token, size_t len);
/* A new key: printed to out once, its hash appended to path (made 0600). */
int inferd_keygen(const char *path, const char *name, char *key, size_t keylen, char *err, size_t errlen);

#endif
