/* Services: the stack's daemons installed, configured and running.
 *
 *  - the system users and groups their units ask for (User=, Group=,
 *    SupplementaryGroups=) and the render and video groups the GPUs' device
 *    files belong to, declared in a sysusers.d file and made by
 *    systemd-sysusers (declarative: a second run changes nothing);
 *  - a udev rule giving the render group KFD and the render nodes, whatever
 *    the distribution's default mode;
 *  - tb-inferd's config from [services]: its listeners, an API key (made
 *    and printed once; only its hash is stored, 0600) and, for a listener
 *    off loopback, a TLS certificate (made self-signed, its fingerprint
 *    printed).  A network port without keys and TLS is refused;
 *  - the units of tb-fand, tb-stored and tb-inferd installed (unless a
 *    package put them in /lib/systemd/system), enabled and, on the running
 *    system, started and seen READY. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "installer/accounts.h"
#include "installer/setup.h"

#define SECTION "services"
#define SYSUSERS_PATH "/etc/sysusers.d/tb-setup.conf"
#define UDEV_RULES_PATH "/etc/udev/rules.d/70-tb-gpu.rules"
#define INFERD_CONF_PATH "/etc/tb/inferd.conf"
#define UNIT_DIR "/etc/systemd/system"
#define UNIT_MAX (64 * 1024)
#define KEYS_MAX (64 * 1024)
#define TOOL_OUT_MAX 4096
#define MAX_LISTEN 8
#define MAX_UNIT_GROUPS 8
#define SECRET_MODE 0600
#define TLS_DAYS "825" /* the longest validity clients accept for a server certificate */
#define DNS_NAME_MAX 253

static const struct setup_key services_keys[] = {
	{ "model", NULL,
	  "the model tb-inferd serves (a GGUF file or a model directory, under the root); unset: tb-inferd is "
	  "installed but not enabled" },
	{ "listen", "127.0.0.1:8000",
	  "tb-inferd's listeners, ADDR:PORT separated by commas; one off loopback needs api_keys, tls_cert and tls_key" },
	{ "api_keys", "/etc/tb/inferd.keys",
	  "tb-inferd's API key hashes (0600); a key is made and printed once when there is none; none: no keys "
	  "(loopback listeners only)" },
	{ "tls_cert", "/etc/tb/tls/inferd.crt",
	  "tb-inferd's TLS certificate, made self-signed when a listener is off loopback and there is none; none: no "
	  "TLS (loopback listeners only)" },
	{ "tls_key", "/etc/tb/tls/inferd.key", "the certificate's private key (0600, tb-inferd's own)" },
	{ "tls_name", NULL, "the certificate's DNS name (default: the root's /etc/hostname, else tb)" },
	{ "ready_timeout", "900",
	  "seconds to wait for each started daemon to be READY (tb-inferd loads and warms up its model first)" },
	{ NULL },
};

/* The stack's daemons, in the order they start. */
static const char *const unit_names[] = { "tb-fand.service", "tb-stored.service", "tb-inferd.service" };
#define NUNITS (sizeof unit_names / sizeof unit_names[0])
#define INFERD 2

/* Where a root's units may already be: the administrator's, then packages'. */
static const char *const unit_dirs[] = { UNIT_DIR, "/usr/lib/systemd/system", "/lib/systemd/system" };

static const char udev_rules[] =
	"# Written by tb setup: the GPUs' device files for the render group (tb-inferd,\n"
	"# the owner) and the display nodes for video, whatever the distribution's\n"
	"# default mode (50-udev-default.rules) is.\n"
	"SUBSYSTEM==\"kfd\", KERNEL==\"kfd\", GROUP=\"render\", MODE=\"0660\"\n"
	"SUBSYSTEM==\"drm\", KERNEL==\"renderD*\", GROUP=\"render\", MODE=\"0660\"\n"
	"SUBSYSTEM==\"drm\", KERNEL==\"card*\", GROUP=\"video\", MODE=\"0660\"\n";

struct unit {
	const char *name;
	char *content;
	size_t len;
	bool present;		/* the root has it */
	bool install;		/* write content to UNIT_DIR */
	bool want_enabled;
	bool enable, disable;	/* systemctl enable / disable */
	bool start, restart;	/* on the running system */
	char user[ACCOUNT_NAME_MAX + 1], group[ACCOUNT_NAME_MAX + 1];
	char groups[MAX_UNIT_GROUPS][ACCOUNT_NAME_MAX + 1];
	int ngroups;
	char description[128];
	char exec[PATH_MAX];
};

struct services {
	struct unit u[NUNITS];
	char *sysusers;
	size_t sysusers_len;
	bool write_sysusers, run_sysusers, write_udev, write_inferd;
	char *inferd_conf;
	size_t inferd_len;
	bool network;		/* a listener off loopback */
	bool keys, tls;		/* tb-inferd gets api keys / a certificate */
	char api_keys[PATH_MAX], tls_cert[PATH_MAX], tls_key[PATH_MAX], tls_name[DNS_NAME_MAX + 1];
	bool make_key, make_cert, fix_secrets;
	bool systemd;		/* the running system, with systemd as its manager */
};

/* ---- small parsers ---- */

static bool dns_name_valid(const char *n)
{
	size_t len = strlen(n);
	return len > 0 && len <= DNS_NAME_MAX && n[0] != '-' && n[0] != '.' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == len;
}

/* "ADDR:PORT", ADDR numeric IPv4 or [IPv6], as tb-inferd takes it.  0 and
 * whether it is on loopback; -EINVAL. */
static int parse_listen(const char *v, bool *loopback)
{
	char host[64];
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v || (size_t)(colon - v) >= sizeof host)
		return -EINVAL;
	const char *port = colon + 1;
	size_t digits = strspn(port, "0123456789");
	if (!digits || digits > 5 || port[digits] || strtoul(port, NULL, 10) > 65535)
		return -EINVAL;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	unsigned char a[16];
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, a) != 1)
			return -EINVAL;
		static const unsigned char v6_loopback[16] = { [15] = 1 };
		*loopback = !memcmp(a, v6_loopback, sizeof a);
		return 0;
	}
	if (inet_pton(AF_INET, host, a) != 1)
		return -EINVAL;
	*loopback = a[0] == 127;
	return 0;
}

/* The value of "Key=" on a line of a unit (the last assignment wins, as in
 * systemd; an empty one resets). */
static void unit_value(const char *content, const char *key, char *out, size_t cap)
{
	char line[1024];
	bool cut;
	size_t kl = strlen(key);
	out[0] = '\0';
	for (const char *p = content; next_line(&p, line, sizeof line, &cut);)
		if (!strncmp(line, key, kl) && line[kl] == '=')
			snprintf(out, cap, "%s", line + kl + 1);
}

static int parse_unit(struct step_run *r, struct unit *u, const char *where)
{
	char v[1024];
	unit_value(u->content, "User", u->user, sizeof u->user);
	unit_value(u->content, "Group", u->group, sizeof u->group);
	unit_value(u->content, "Description", u->description, sizeof u->description);
	if ((u->user[0] && !account_name_valid(u->user)) || (u->group[0] && !account_name_valid(u->group)))
		return step_fail(r, SETUP_FAILED, "%s: User=%s Group=%s: not names useradd takes", where, u->user,
				 u->group);
	unit_value(u->content, "SupplementaryGroups", v, sizeof v);
	for (char *save, *g = strtok_r(v, " ", &save); g; g = strtok_r(NULL, " ", &save)) {
		if (!account_name_valid(g) || u->ngroups == MAX_UNIT_GROUPS)
			return step_fail(r, SETUP_FAILED, "%s: SupplementaryGroups: '%s' is not a group name (or over %d)",
					 where, g, MAX_UNIT_GROUPS);
		snprintf(u->groups[u->ngroups++], sizeof u->groups[0], "%s", g);
	}
	/* ExecStart's program, without systemd's prefixes (-@:+!) */
	unit_value(u->content, "ExecStart", v, sizeof v);
	const char *prog = v + strspn(v, "-@:+!");
	size_t n = strcspn(prog, " \t");
	if (prog[0] != '/' || n >= sizeof u->exec)
		return step_fail(r, SETUP_FAILED, "%s: ExecStart is not an absolute program path", where);
	memcpy(u->exec, prog, n);
	u->exec[n] = '\0';
	return SETUP_OK;
}

/* ---- tools ---- */

static bool systemd_running(const struct setup *s)
{
	/* sd_booted(): the directory exists only while systemd is PID 1 */
	return s->live && access("/run/systemd/system", F_OK) == 0;
}

/* systemctl [--root=ROOT] VERB [UNIT] */
static void systemctl_argv(const struct setup *s, const char *a[5], char *rootopt, size_t len, const char *verb,
			   const char *unit)
{
	size_t i = 0;
	a[i++] = "systemctl";
	if (!s->live) {
		snprintf(rootopt, len, "--root=%s", s->root);
		a[i++] = rootopt;
	}
	a[i++] = verb;
	a[i++] = unit;
	a[i] = NULL;
}

/* A query's answer ("enabled", "active", ...; "" when it has none). */
static void unit_state(struct setup *s, const char *query, const char *unit, char *out, size_t cap)
{
	const char *a[5];
	char rootopt[PATH_MAX + 8];
	systemctl_argv(s, a, rootopt, sizeof rootopt, query, unit);
	if (setup_capture(s, a, out, cap) < 0) /* a state other than the one asked is a non-zero exit */
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static int run_systemctl(struct setup *s, struct step_run *r, const char *verb, const char *unit)
{
	const char *a[5];
	char rootopt[PATH_MAX + 8];
	systemctl_argv(s, a, rootopt, sizeof rootopt, verb, unit);
	return setup_exec(s, r, a) == 0 ? SETUP_OK : SETUP_FAILED;
}

/* ---- check: units ---- */

/* The unit as the root has it, or as the stack ships it (PREFIX/lib/systemd/system). */
static int find_unit(struct setup *s, struct step_run *r, struct unit *u)
{
	char path[PATH_MAX], where[PATH_MAX + 64];
	for (size_t d = 0; d < sizeof unit_dirs / sizeof unit_dirs[0]; d++) {
		snprintf(path, sizeof path, "%s/%s", unit_dirs[d], u->name);
		int rc = setup_file_read(s, path, UNIT_MAX, &u->content, &u->len);
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return step_fail(r, SETUP_FAILED, "%s%s: %s", s->root, path, strerror(-rc));
		u->present = true;
		if (d == 0)
			break; /* ours from an earlier run (or the admin's): compared with the shipped one below */
		snprintf(where, sizeof where, "%s%s", s->root, path);
		return parse_unit(r, u, where); /* a package's: its own */
	}
	char prefix[PATH_MAX], shipped[PATH_MAX];
	if (setup_prefix(prefix, sizeof prefix) < 0 ||
	    (size_t)snprintf(shipped, sizeof shipped, "%s/lib/systemd/system/%s", prefix, u->name) >= sizeof shipped)
		return step_fail(r, SETUP_FAILED, "cannot find the stack's install prefix");
	char *mine;
	size_t mlen;
	int rc = host_file_read(shipped, UNIT_MAX, &mine, &mlen);
	if (rc < 0) {
		if (u->content)
			return parse_unit(r, u, UNIT_DIR); /* the admin's own, nothing shipped to compare */
		return step_fail(r, SETUP_FAILED, "%s: not in the root's unit directories and not shipped (%s: %s)",
				 u->name, shipped, strerror(-rc));
	}
	free(u->content);
	u->content = mine;
	u->len = mlen;
	snprintf(path, sizeof path, "%s/%s", UNIT_DIR, u->name);
	size_t before = r->nactions;
	if (setup_file_want(s, r, path, mine, mlen, 0644))
		return SETUP_FAILED;
	u->install = r->nactions > before;
	return parse_unit(r, u, shipped);
}

static int check_unit(struct setup *s, struct step_run *r, struct services *v, struct unit *u, bool want)
{
	int rc = find_unit(s, r, u);
	if (rc)
		return rc;
	char prog[PATH_MAX];
	if (setup_path(s, u->exec, prog, sizeof prog) < 0 || access(prog, X_OK) < 0)
		return step_fail(r, SETUP_FAILED,
				 "%s: its program %s is not installed in the root (install the stack's package first)",
				 u->name, u->exec);
	step_input(r, u->name, u->content);
	u->want_enabled = want;
	char state[TOOL_OUT_MAX] = "";
	if (u->present) /* else systemctl has nothing to say but an error */
		unit_state(s, "is-enabled", u->name, state, sizeof state);
	bool enabled = !strcmp(state, "enabled");
	if (want && !enabled) {
		u->enable = true;
		step_action(r, "enable %s (was %s)", u->name, state[0] ? state : "not installed");
	} else if (!want && enabled) {
		u->disable = true;
		step_action(r, "disable %s", u->name);
	}
	if (!v->systemd || !want)
		return SETUP_OK;
	unit_state(s, "is-active", u->name, state, sizeof state);
	if (strcmp(state, "active") && strcmp(state, "activating") && strcmp(state, "reloading")) {
		u->start = true;
		step_action(r, "start %s (%s)", u->name, state[0] ? state : "inactive");
	}
	return SETUP_OK;
}

/* ---- check: users and groups ---- */

static void add_line(char *buf, size_t cap, const char *fmt, const char *a, const char *b)
{
	char line[256];
	snprintf(line, sizeof line, fmt, a, b);
	if (!strstr(buf, line) && strlen(buf) + strlen(line) < cap)
		strcat(buf, line);
}

/* The sysusers.d file: groups, then users, then memberships. */
static int make_sysusers(struct services *v)
{
	static const size_t cap = 8192;
	char *g = calloc(1, cap), *u = calloc(1, cap), *m = calloc(1, cap);
	v->sysusers = malloc(3 * cap + 256);
	if (!g || !u || !m || !v->sysusers) {
		free(g), free(u), free(m);
		return -ENOMEM;
	}
	add_line(g, cap, "g %s -%s\n", "render", "");
	add_line(g, cap, "g %s -%s\n", "video", "");
	for (size_t i = 0; i < NUNITS; i++) {
		const struct unit *x = &v->u[i];
		if (!x->user[0] || !strcmp(x->user, "root"))
			continue;
		char gecos[160];
		snprintf(gecos, sizeof gecos, "%.120s", x->description[0] ? x->description : x->name);
		for (char *c = gecos; *c; c++)
			if (*c == '"' || *c == ':')
				*c = ' ';
		add_line(u, cap, "u %s - \"%s\"\n", x->user, gecos);
		if (x->group[0] && strcmp(x->group, x->user)) {
			add_line(g, cap, "g %s -%s\n", x->group, "");
			add_line(m, cap, "m %s %s\n", x->user, x->group);
		}
		for (int k = 0; k < x->ngroups; k++) {
			add_line(g, cap, "g %s -%s\n", x->groups[k], "");
			add_line(m, cap, "m %s %s\n", x->user, x->groups[k]);
		}
	}
	v->sysusers_len = (size_t)sprintf(v->sysusers,
					  "# Written by tb setup: the system users and groups of the stack's units\n"
					  "# (their User=, Group=, SupplementaryGroups=) and the GPUs' groups.\n%s%s%s",
					  g, u, m);
	free(g), free(u), free(m);
	return 0;
}

/* Whether every line of the sysusers file holds in the root's files. */
static bool sysusers_hold(const struct setup *s, const char *conf, char *missing, size_t cap)
{
	char line[256], a[ACCOUNT_NAME_MAX + 1], b[ACCOUNT_NAME_MAX + 1];
	bool cut;
	for (const char *p = conf; next_line(&p, line, sizeof line, &cut);) {
		struct account acc;
		gid_t gid;
		bool member;
		if (sscanf(line, "g %32s", a) == 1 && account_group(s, a, NULL, &gid, &member)) {
			snprintf(missing, cap, "group %s", a);
			return false;
		}
		if (sscanf(line, "u %32s", a) == 1 && account_user(s, a, &acc)) {
			snprintf(missing, cap, "user %s", a);
			return false;
		}
		if (sscanf(line, "m %32s %32s", a, b) == 2 && (account_group(s, b, a, &gid, &member) || !member)) {
			snprintf(missing, cap, "%s in group %s", a, b);
			return false;
		}
	}
	return true;
}

static int check_users(struct setup *s, struct step_run *r, struct services *v)
{
	if (make_sysusers(v) < 0)
		return step_fail(r, SETUP_FAILED, "out of memory");
	size_t before = r->nactions;
	if (setup_file_want(s, r, SYSUSERS_PATH, v->sysusers, v->sysusers_len, 0644))
		return SETUP_FAILED;
	v->write_sysusers = r->nactions > before;
	char missing[128];
	if (!sysusers_hold(s, v->sysusers, missing, sizeof missing)) {
		v->run_sysusers = true;
		step_action(r, "make the stack's system users and groups with systemd-sysusers (%s is missing)", missing);
	}
	before = r->nactions;
	if (setup_file_want(s, r, UDEV_RULES_PATH, udev_rules, sizeof udev_rules - 1, 0644))
		return SETUP_FAILED;
	v->write_udev = r->nactions > before;
	return SETUP_OK;
}

/* ---- check: tb-inferd's keys and certificate ---- */

/* A path key: absolute, or "none" when allowed. */
static int conf_path(struct setup *s, struct step_run *r, const char *key, char *out, size_t len)
{
	const char *v = setup_conf_get(s->conf, SECTION, key);
	char where[PATH_MAX + 64];
	if (!strcmp(v, "none")) {
		out[0] = '\0';
		return SETUP_OK;
	}
	if (v[0] != '/' || strlen(v) >= len || strstr(v, "/../") || strpbrk(v, " \t#"))
		return step_fail(r, SETUP_FAILED, "%s: %s '%s' is not an absolute path (or none)",
				 setup_conf_where(s->conf, SECTION, key, where, sizeof where), key, v);
	snprintf(out, len, "%s", v);
	return SETUP_OK;
}

static const char *inferd_user(const struct services *v)
{
	return v->u[INFERD].user[0] ? v->u[INFERD].user : "root";
}

/* A secret of tb-inferd: absent (made later), or a regular file of its
 * user's with mode 0600.  -EINVAL when it is not a regular file. */
static int secret_state(const struct setup *s, const struct services *v, const char *path, struct stat *st,
			bool *ok)
{
	char full[PATH_MAX];
	*ok = false;
	if (setup_path(s, path, full, sizeof full) < 0)
		return -ENAMETOOLONG;
	if (lstat(full, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	struct account acc;
	*ok = (st->st_mode & 07777) == SECRET_MODE && account_user(s, inferd_user(v), &acc) == 0 && st->st_uid == acc.uid;
	return 0;
}

static int check_secret(struct setup *s, struct step_run *r, struct services *v, const char *path)
{
	struct stat st;
	bool ok;
	int rc = secret_state(s, v, path, &st, &ok);
	if (rc == -ENOENT)
		return SETUP_OK;
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s%s: %s", s->root, path,
				 rc == -EINVAL ? "not a regular file" : strerror(-rc));
	if (!ok) {
		v->fix_secrets = true;
		step_action(r, "chown %s, chmod %04o %s (was uid %u, mode %04o)", inferd_user(v), SECRET_MODE, path,
			    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	return SETUP_OK;
}

/* The API keys file: each line "sha256:HEX [name]" (tb-inferd refuses
 * anything else), at least one. */
static int check_keys(struct setup *s, struct step_run *r, struct services *v)
{
	char *text;
	size_t len;
	int rc = setup_file_read(s, v->api_keys, KEYS_MAX, &text, &len);
	if (rc == -ENOENT) {
		v->make_key = true;
		step_action(r, "make an API key for tb-inferd (printed once; its hash in %s)", v->api_keys);
		return SETUP_OK;
	}
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s%s: %s", s->root, v->api_keys,
				 rc == -EINVAL ? "not a regular text file" : strerror(-rc));
	int n = 0, keys = 0;
	char line[256];
	bool cut;
	for (const char *p = text; rc == 0 && next_line(&p, line, sizeof line, &cut);) {
		n++;
		if (!line[0] || line[0] == '#')
			continue;
		bool good = !cut && !strncmp(line, "sha256:", 7) && strspn(line + 7, "0123456789abcdef") == 64 &&
			    (line[71] == '\0' || line[71] == ' ');
		if (!good)
			rc = step_fail(r, SETUP_FAILED, "%s%s:%d: not 'sha256:HEX [name]' (tb-inferd would refuse it)",
				       s->root, v->api_keys, n);
		keys++;
	}
	free(text);
	if (rc)
		return rc;
	if (keys == 0) {
		v->make_key = true;
		step_action(r, "make an API key for tb-inferd (printed once; %s has none)", v->api_keys);
	}
	return check_secret(s, r, v, v->api_keys);
}

/* The certificate's SHA-256 fingerprint (AB:CD:...), by openssl. */
static int cert_fingerprint(struct setup *s, const char *full, char *out, size_t len)
{
	const char *const a[] = { "openssl", "x509", "-in", full, "-noout", "-fingerprint", "-sha256", NULL };
	char buf[TOOL_OUT_MAX];
	if (setup_capture(s, a, buf, sizeof buf) != 0)
		return -EINVAL;
	const char *eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	snprintf(out, len, "%.*s", (int)strcspn(eq + 1, "\n"), eq + 1);
	return 0;
}

static void tls_default_name(struct setup *s, struct services *v)
{
	const char *n = setup_conf_get(s->conf, SECTION, "tls_name");
	char *host = NULL;
	size_t len;
	if (!n && setup_file_read(s, "/etc/hostname", 4096, &host, &len) == 0) {
		host[strcspn(host, "\n")] = '\0';
		n = host;
	}
	snprintf(v->tls_name, sizeof v->tls_name, "%s", n && dns_name_valid(n) ? n : "tb");
	free(host);
}

static int check_tls(struct setup *s, struct step_run *r, struct services *v)
{
	char where[PATH_MAX + 64];
	const char *name = setup_conf_get(s->conf, SECTION, "tls_name");
	if (name && !dns_name_valid(name))
		return step_fail(r, SETUP_FAILED, "%s: tls_name '%s' is not a DNS name",
				 setup_conf_where(s->conf, SECTION, "tls_name", where, sizeof where), name);
	tls_default_name(s, v);
	char cert[PATH_MAX], key[PATH_MAX];
	if (setup_path(s, v->tls_cert, cert, sizeof cert) < 0 || setup_path(s, v->tls_key, key, sizeof key) < 0)
		return step_fail(r, SETUP_FAILED, "the TLS paths are too long under the root");
	bool have_cert = access(cert, F_OK) == 0, have_key = access(key, F_OK) == 0;
	if (have_cert && !have_key)
		return step_fail(r, SETUP_FAILED, "%s is there but not its key %s: put the key there, or remove both "
				 "for tb setup to make a new pair", cert, key);
	if (!have_cert) {
		/* a key alone is what a run cut short between the two leaves */
		v->make_cert = true;
		step_action(r, "make a self-signed TLS certificate for %s (EC P-256, %s days): %s, key %s", v->tls_name,
			    TLS_DAYS, v->tls_cert, v->tls_key);
		return SETUP_OK;
	}
	char fp[256];
	if (cert_fingerprint(s, cert, fp, sizeof fp) < 0)
		return step_fail(r, SETUP_FAILED, "%s: not a PEM certificate openssl reads", cert);
	step_note(r, "tb-inferd's TLS certificate %s: SHA-256 fingerprint %s", v->tls_cert, fp);
	return check_secret(s, r, v, v->tls_key);
}

/* [services] for tb-inferd, validated before anything else is looked at:
 * a listener off loopback without keys and TLS is refused. */
static int read_inferd_conf(struct setup *s, struct step_run *r, struct services *v)
{
	char where[PATH_MAX + 64], list[1024];
	const char *listen = setup_conf_get(s->conf, SECTION, "listen");
	const char *model = setup_conf_get(s->conf, SECTION, "model");
	setup_conf_where(s->conf, SECTION, "listen", where, sizeof where);
	if (strlen(listen) >= sizeof list)
		return step_fail(r, SETUP_FAILED, "%s: listen is too long", where);
	snprintf(list, sizeof list, "%s", listen);
	int n = 0;
	char off[128] = "";
	for (char *save, *l = strtok_r(list, ", ", &save); l; l = strtok_r(NULL, ", ", &save)) {
		bool loopback;
		if (++n > MAX_LISTEN || parse_listen(l, &loopback) < 0)
			return step_fail(r, SETUP_FAILED,
					 "%s: listen '%s': ADDR:PORT with a numeric IPv4 or [IPv6] address (at most %d)",
					 where, l, MAX_LISTEN);
		if (!loopback && !off[0])
			snprintf(off, sizeof off, "%s", l);
	}
	if (n == 0)
		return step_fail(r, SETUP_FAILED, "%s: listen is empty", where);
	if (model && (model[0] != '/' || strpbrk(model, "#\n")))
		return step_fail(r, SETUP_FAILED, "%s: model '%s' is not an absolute path",
				 setup_conf_where(s->conf, SECTION, "model", where, sizeof where), model);
	int rc = conf_path(s, r, "api_keys", v->api_keys, sizeof v->api_keys);
	if (!rc)
		rc = conf_path(s, r, "tls_cert", v->tls_cert, sizeof v->tls_cert);
	if (!rc)
		rc = conf_path(s, r, "tls_key", v->tls_key, sizeof v->tls_key);
	if (rc)
		return rc;
	v->network = off[0] != '\0';
	if (v->network && (!v->api_keys[0] || !v->tls_cert[0] || !v->tls_key[0]))
		return step_fail(r, SETUP_REFUSED,
				 "%s: listen %s opens a network port: it needs api_keys, tls_cert and tls_key (not none); "
				 "or keep tb-inferd on 127.0.0.1 and reach it through an SSH port forward",
				 where, off);
	v->keys = v->api_keys[0] != '\0';
	v->tls = v->network;
	return SETUP_OK;
}

/* inferd.conf, its API keys and certificate. */
static int check_inferd(struct setup *s, struct step_run *r, struct services *v)
{
	const char *listen = setup_conf_get(s->conf, SECTION, "listen");
	const char *model = setup_conf_get(s->conf, SECTION, "model");
	int rc;
	if (v->keys && (rc = check_keys(s, r, v)))
		return rc;
	if (v->tls && (rc = check_tls(s, r, v)))
		return rc;
	char body[4096];
	int len = snprintf(body, sizeof body,
			   "# Written by tb setup from [services] in /etc/tb/setup.conf: change it there\n"
			   "# and run tb setup apply (an edit here is undone by the next apply).\n"
			   "[inferd]\n%s%s\nlisten = %s\n",
			   model ? "model = " : "# model: not set (tb-inferd is not enabled)", model ? model : "", listen);
	if (v->keys)
		len += snprintf(body + len, sizeof body - (size_t)len, "api_keys = %s\n", v->api_keys);
	if (v->tls)
		len += snprintf(body + len, sizeof body - (size_t)len, "tls_cert = %s\ntls_key = %s\n", v->tls_cert,
				v->tls_key);
	if ((size_t)len >= sizeof body || !(v->inferd_conf = strdup(body)))
		return step_fail(r, SETUP_FAILED, "tb-inferd's config is too long");
	v->inferd_len = (size_t)len;
	size_t before = r->nactions;
	if (setup_file_want(s, r, INFERD_CONF_PATH, v->inferd_conf, v->inferd_len, 0644))
		return SETUP_FAILED;
	v->write_inferd = r->nactions > before;
	if (!model)
		step_note(r, "tb-inferd.service: installed, not enabled: no model ([services] model = PATH)");
	return SETUP_OK;
}

static int services_check(struct setup *s, struct step_run *r)
{
	struct services *v = calloc(1, sizeof *v);
	if (!v)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = v;
	v->systemd = systemd_running(s);
	for (size_t i = 0; i < NUNITS; i++)
		v->u[i].name = unit_names[i];
	bool model = setup_conf_get(s->conf, SECTION, "model") != NULL;
	unsigned long long timeout;
	int rc = setup_conf_uint(s, r, SECTION, "ready_timeout", 1, 24 * 3600, &timeout);
	if (!rc)
		rc = read_inferd_conf(s, r, v);
	for (size_t i = 0; !rc && i < NUNITS; i++)
		rc = check_unit(s, r, v, &v->u[i], i != INFERD || model);
	if (!rc)
		rc = check_users(s, r, v);
	if (!rc)
		rc = check_inferd(s, r, v);
	if (rc)
		return rc;
	/* a running daemon whose unit or config changes is restarted */
	struct unit *inferd = &v->u[INFERD];
	for (size_t i = 0; v->systemd && i < NUNITS; i++) {
		struct unit *u = &v->u[i];
		bool changed = u->install || (u == inferd && (v->write_inferd || v->make_key || v->make_cert));
		if (u->want_enabled && !u->start && changed) {
			u->restart = true;
			step_action(r, "restart %s (its unit or config changed)", u->name);
		}
	}
	if (!s->live)
		step_note(r, "the services' READY: not checked: not live (--root %s)", s->root);
	else if (!v->systemd)
		step_note(r, "the services' READY: not checked: systemd is not running");
	return SETUP_OK;
}

/* ---- apply ---- */

static int chown_secret(struct setup *s, struct step_run *r, const struct services *v, const char *path)
{
	char full[PATH_MAX];
	struct account acc;
	const char *user = inferd_user(v);
	if (account_user(s, user, &acc) < 0)
		return step_fail(r, SETUP_FAILED, "user %s is not in %s/etc/passwd", user, s->root);
	if (setup_path(s, path, full, sizeof full) < 0 ||
	    fchownat(AT_FDCWD, full, acc.uid, acc.gid, AT_SYMLINK_NOFOLLOW) < 0 || chmod(full, SECRET_MODE) < 0)
		return step_fail(r, SETUP_FAILED, "%s: chown %s, chmod %04o: %s", full, user, SECRET_MODE,
				 strerror(errno));
	return SETUP_OK;
}

/* The directory of path (under the root), 0755. */
static int make_parent(const struct setup *s, const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	return root_mkdir(s, dirname(dir), 0755);
}

static int make_key(struct setup *s, struct step_run *r, const struct services *v)
{
	char tb[PATH_MAX], full[PATH_MAX], out[TOOL_OUT_MAX];
	if (setup_tb_command(tb, sizeof tb) < 0)
		return step_fail(r, SETUP_FAILED, "the tb command is not installed beside tb setup");
	if (setup_path(s, v->api_keys, full, sizeof full) < 0 || make_parent(s, v->api_keys) < 0)
		return step_fail(r, SETUP_FAILED, "cannot make the directory of %s%s", s->root, v->api_keys);
	/* captured, not logged: the key is shown once, here, and kept nowhere */
	const char *const a[] = { tb, "serve", "keygen", "--api-keys", full, "--name", "tb-setup", NULL };
	int rc = setup_capture(s, a, out, sizeof out);
	out[strcspn(out, "\n")] = '\0';
	if (rc != 0 || strncmp(out, "tb-", 3))
		return step_fail(r, SETUP_FAILED, "tb serve keygen --api-keys %s: exit status %d", full, rc);
	step_note(r, "tb-inferd's API key (shown this once, keep it; only its hash is stored): %s", out);
	return SETUP_OK;
}

static int make_cert(struct setup *s, struct step_run *r, const struct services *v)
{
	char cert[PATH_MAX], key[PATH_MAX], subj[DNS_NAME_MAX + 8], san[DNS_NAME_MAX + 32];
	if (setup_path(s, v->tls_cert, cert, sizeof cert) < 0 || setup_path(s, v->tls_key, key, sizeof key) < 0 ||
	    make_parent(s, v->tls_cert) < 0 || make_parent(s, v->tls_key) < 0)
		return step_fail(r, SETUP_FAILED, "cannot make the directories of %s and %s", v->tls_cert, v->tls_key);
	snprintf(subj, sizeof subj, "/CN=%s", v->tls_name);
	snprintf(san, sizeof san, "subjectAltName=DNS:%s", v->tls_name);
	const char *const a[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
				  "-nodes", "-keyout", key, "-out", cert, "-days", TLS_DAYS, "-subj", subj, "-addext",
				  san, NULL };
	if (setup_exec(s, r, a) != 0)
		return SETUP_FAILED;
	char fp[256];
	if (cert_fingerprint(s, cert, fp, sizeof fp) < 0)
		return step_fail(r, SETUP_FAILED, "%s: openssl made no certificate it can read", cert);
	step_note(r, "tb-inferd's new TLS certificate %s for %s: SHA-256 fingerprint %s", v->tls_cert, v->tls_name, fp);
	return chown_secret(s, r, v, v->tls_key);
}

static int apply_users(struct setup *s, struct step_run *r, const struct services *v)
{
	if (v->write_sysusers && setup_file_write(s, r, SYSUSERS_PATH, v->sysusers, v->sysusers_len, 0644))
		return SETUP_FAILED;
	if (v->write_sysusers || v->run_sysusers) {
		char rootopt[PATH_MAX + 8];
		snprintf(rootopt, sizeof rootopt, "--root=%s", s->root);
		const char *const a[] = { "systemd-sysusers", s->live ? NULL : rootopt, NULL };
		if (setup_exec(s, r, a) != 0)
			return SETUP_FAILED;
	}
	if (v->write_udev) {
		if (setup_file_write(s, r, UDEV_RULES_PATH, udev_rules, sizeof udev_rules - 1, 0644))
			return SETUP_FAILED;
		if (s->live) {
			const char *const reload[] = { "udevadm", "control", "--reload", NULL };
			const char *const trigger[] = { "udevadm", "trigger", "--action=change", "--subsystem-match=kfd",
							"--subsystem-match=drm", NULL };
			if (setup_exec(s, r, reload) != 0 || setup_exec(s, r, trigger) != 0)
				return SETUP_FAILED;
		}
	}
	return SETUP_OK;
}

static int apply_inferd(struct setup *s, struct step_run *r, const struct services *v)
{
	if (v->write_inferd && setup_file_write(s, r, INFERD_CONF_PATH, v->inferd_conf, v->inferd_len, 0644))
		return SETUP_FAILED;
	if (v->make_key && make_key(s, r, v))
		return SETUP_FAILED;
	if (v->keys && (v->make_key || v->fix_secrets) && chown_secret(s, r, v, v->api_keys))
		return SETUP_FAILED;
	if (v->make_cert && make_cert(s, r, v))
		return SETUP_FAILED;
	if (v->tls && v->fix_secrets && chown_secret(s, r, v, v->tls_key))
		return SETUP_FAILED;
	return SETUP_OK;
}

static int apply_units(struct setup *s, struct step_run *r, const struct services *v)
{
	bool written = false;
	for (size_t i = 0; i < NUNITS; i++) {
		const struct unit *u = &v->u[i];
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", UNIT_DIR, u->name);
		if (u->install && setup_file_write(s, r, path, u->content, u->len, 0644))
			return SETUP_FAILED;
		written |= u->install;
	}
	if (written && v->systemd && run_systemctl(s, r, "daemon-reload", NULL))
		return SETUP_FAILED;
	for (size_t i = 0; i < NUNITS; i++) {
		const struct unit *u = &v->u[i];
		if ((u->enable && run_systemctl(s, r, "enable", u->name)) ||
		    (u->disable && run_systemctl(s, r, "disable", u->name)))
			return SETUP_FAILED;
	}
	/* queued, not waited for: from the boot unit (tb-setup.service, which
	 * the daemons are ordered after) a blocking start would wait for itself;
	 * verify watches them come up */
	for (size_t i = 0; v->systemd && i < NUNITS; i++) {
		const struct unit *u = &v->u[i];
		const char *verb = u->restart ? "restart" : u->start ? "start" : NULL;
		if (!verb)
			continue;
		const char *const a[] = { "systemctl", verb, "--no-block", u->name, NULL };
		if (setup_exec(s, r, a) != 0)
			return SETUP_FAILED;
	}
	return SETUP_OK;
}

static int services_apply(struct setup *s, struct step_run *r)
{
	const struct services *v = r->priv;
	/* users first: the secrets belong to tb-inferd */
	int rc = apply_users(s, r, v);
	if (!rc)
		rc = apply_inferd(s, r, v);
	if (!rc)
		rc = apply_units(s, r, v);
	return rc;
}

/* ---- verify ---- */

/* "Key=value" lines of systemctl show into value of key. */
static void show_value(const char *out, const char *key, char *val, size_t cap)
{
	unit_value(out, key, val, cap);
}

struct unit_status {
	char active[64], sub[64], result[64], status[512];
};

static void unit_status(struct setup *s, const char *unit, struct unit_status *st)
{
	const char *const a[] = { "systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "Result",
				  "-p", "StatusText", unit, NULL };
	char out[TOOL_OUT_MAX];
	if (setup_capture(s, a, out, sizeof out) != 0)
		out[0] = '\0';
	show_value(out, "ActiveState", st->active, sizeof st->active);
	show_value(out, "SubState", st->sub, sizeof st->sub);
	show_value(out, "Result", st->result, sizeof st->result);
	show_value(out, "StatusText", st->status, sizeof st->status);
}

/* The state of unit's pending job: "waiting" (ordered after a unit still
 * starting, such as the boot unit running this very setup), "running", or
 * "" for none. */
static void unit_job(struct setup *s, const char *unit, char *out, size_t cap)
{
	const char *const a[] = { "systemctl", "list-jobs", "--no-legend", unit, NULL };
	char buf[TOOL_OUT_MAX], id[32], name[256], type[64], state[64];
	out[0] = '\0';
	if (setup_capture(s, a, buf, sizeof buf) == 0 && sscanf(buf, "%31s %255s %63s %63s", id, name, type, state) == 4 &&
	    !strcmp(name, unit))
		snprintf(out, cap, "%s", state);
}

/* Until unit is active (READY, for a Type=notify one), fails, or the
 * deadline passes. */
static int wait_ready(struct setup *s, struct step_run *r, const struct unit *u, unsigned long long timeout_s)
{
	struct unit_status st;
	for (unsigned long long waited = 0;; waited++) {
		unit_status(s, u->name, &st);
		if (!strcmp(st.active, "active")) {
			step_note(r, "%s: READY (%s)%s%s", u->name, st.sub, st.status[0] ? ": " : "", st.status);
			return SETUP_OK;
		}
		char job[64];
		unit_job(s, u->name, job, sizeof job);
		if (!strcmp(job, "waiting")) {
			step_note(r, "%s: READY not checked: its start waits for a unit ordered before it (the boot unit "
				  "runs this setup): tb setup verify checks it", u->name);
			return SETUP_OK;
		}
		bool coming = !strcmp(st.active, "activating") || !strcmp(st.active, "reloading") || job[0];
		if (!coming || waited >= timeout_s)
			break;
		sleep(1);
	}
	step_note(r, "%s: %s (%s, result %s)%s%s; journalctl -u %s says why", u->name,
		  st.active[0] ? st.active : "unknown", st.sub, st.result, st.status[0] ? ": " : "", st.status, u->name);
	return step_fail(r, SETUP_FAILED, "%s is not READY (%s)", u->name, st.active[0] ? st.active : "unknown");
}

static int verify_running(struct setup *s, struct step_run *r, const struct services *v)
{
	unsigned long long timeout;
	int rc = setup_conf_uint(s, r, SECTION, "ready_timeout", 1, 24 * 3600, &timeout);
	for (size_t i = 0; !rc && i < NUNITS; i++)
		if (v->u[i].want_enabled)
			rc = wait_ready(s, r, &v->u[i], timeout);
	return rc;
}

static int services_verify(struct setup *s, struct step_run *r)
{
	const struct services *v = r->priv;
	char missing[128];
	if (!sysusers_hold(s, v->sysusers, missing, sizeof missing))
		return step_fail(r, SETUP_FAILED, "systemd-sysusers ran but %s is still missing", missing);
	struct stat st;
	bool ok;
	if (v->keys && (secret_state(s, v, v->api_keys, &st, &ok) < 0 || !ok))
		return step_fail(r, SETUP_FAILED, "%s%s is not %s's own with mode %04o", s->root, v->api_keys,
				 inferd_user(v), SECRET_MODE);
	if (v->tls && (secret_state(s, v, v->tls_key, &st, &ok) < 0 || !ok))
		return step_fail(r, SETUP_FAILED, "%s%s is not %s's own with mode %04o", s->root, v->tls_key,
				 inferd_user(v), SECRET_MODE);
	return v->systemd ? verify_running(s, r, v) : SETUP_OK;
}

static void services_release(struct step_run *r)
{
	struct services *v = r->priv;
	if (!v)
		return;
	for (size_t i = 0; i < NUNITS; i++)
		free(v->u[i].content);
	free(v->sysusers);
	free(v->inferd_conf);
	free(v);
	r->priv = NULL;
}

const struct setup_step step_services = {
	.name = "services",
	.summary = "the daemons' users, udev rules, tb-inferd's keys and TLS, the units enabled and READY",
	.keys = services_keys,
	.check = services_check,
	.apply = services_apply,
	.verify = services_verify,
	.release = services_release,
};
