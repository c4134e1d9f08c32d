/* The framework's own pieces (config file, ledger, runner): steps use
 * setup.h only. */
#ifndef TB_SETUP_INTERNAL_H
#define TB_SETUP_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "installer/setup.h"

/* The framework's own section of setup.conf. */
extern const struct setup_key setup_framework_keys[];

/* Parse path (a regular file of at most 64 KiB) against the steps' keys:
 * an unknown section or key, a repeated key or a malformed line is refused
 * with FILE:LINE in err.  missing_ok: an absent file is the defaults. */
int setup_conf_load(const char *path, bool missing_ok, struct setup_conf **out, char *err, size_t len);
void setup_conf_free(struct setup_conf *c);
/* Hash the effective value of every key of section into *h. */
void setup_conf_hash(const struct setup_conf *c, const char *section, const struct setup_key *keys, uint64_t *h);
/* The documented default config, as tb setup config prints it. */
void setup_conf_print_defaults(FILE *f);

/* The ledger (ROOT/var/lib/tb-setup/ledger.json). */
enum ledger_state { LEDGER_NONE, LEDGER_STARTED, LEDGER_DONE, LEDGER_FAILED, LEDGER_REFUSED, LEDGER_REBOOT };
struct ledger_entry {
	char step[32];
	enum ledger_state state;
	uint64_t inputs;	/* hash of config and facts when it ran */
	uint64_t conf;		/* hash of its config section (and the machine id) */
	time_t time;
	unsigned changes;	/* actions applied */
	unsigned reboots;	/* consecutive reboots it asked for with these inputs */
	char message[256];
};
#define LEDGER_MAX 32
struct ledger {
	struct ledger_entry e[LEDGER_MAX];
	size_t n;
};
int ledger_load(const struct setup *s, struct ledger *l, char *err, size_t len);
int ledger_save(const struct setup *s, const struct ledger *l, char *err, size_t len);
struct ledger_entry *ledger_find(struct ledger *l, const char *step, bool create);
const char *ledger_state_name(enum ledger_state st);

/* Atomic replacement of full (a path already under the root). */
int setup_write_atomic(const char *full, const char *content, size_t len, mode_t mode);

#endif
