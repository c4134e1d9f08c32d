/* tb setup: the appliance's first-boot installer (private to installer/).
 *
 * The desired state is one config file (/etc/tb/setup.conf).  Each step
 * compares the system with it (check), changes what differs (apply) and
 * confirms the result (verify), in the manner of Ansible's check mode: a
 * plan runs every check and changes nothing; an apply after an apply finds
 * nothing to change.  A ledger under /var/lib/tb-setup records each step's
 * result and a hash of its inputs, so a run cut short by a reboot or a power
 * cut resumes: a step is always re-checked, never re-applied blind.
 *
 * All paths a step touches are under the target root (--root, default "/")
 * through setup_path(); system changes are made by the real tools (mdadm,
 * mkfs.ext4, systemctl, udevadm, update-initramfs) through setup_exec(),
 * which a plan never reaches. */
#ifndef TB_SETUP_H
#define TB_SETUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* What a step (and tb setup) ends with; also tb setup's exit status. */
enum setup_result {
	SETUP_OK = 0,		/* in the desired state (or brought to it) */
	SETUP_FAILED = 1,	/* a check, an action or a verification failed */
	SETUP_REFUSED = 2,	/* refused for safety: nothing was changed */
	SETUP_REBOOT = 75,	/* a reboot is needed before the next step */
};

/* One key a step's config section takes: keys not declared are errors. */
struct setup_key {
	const char *name;
	const char *def;	/* default value; NULL: the key has no default (absent = unset) */
	const char *doc;	/* one line for tb setup config --help and the shipped setup.conf */
};

struct setup_conf;

/* The run every step sees. */
struct setup {
	char root[PATH_MAX];	/* the target root, without a trailing '/'; "" is the running system */
	bool live;		/* root is the running system: services, modules and hardware are live */
	bool plan;		/* nothing may be changed (setup_exec refuses) */
	bool json;		/* the report goes out as JSON (the steps print nothing themselves) */
	const struct setup_conf *conf;
	int log_fd;		/* the full log of commands and their output (ROOT/var/log/tb-setup.log) */
	unsigned command_timeout_s; /* a tool that runs longer is killed ([setup] command_timeout) */
	char conf_path[PATH_MAX];
};

/* One step's run: what it found, what it would change and why it failed. */
#define STEP_MAX_ACTIONS 64
#define STEP_MAX_NOTES 64
struct step_run {
	const struct setup_step *step;
	char *actions[STEP_MAX_ACTIONS];	/* each change check found needed, as a person reads it */
	size_t nactions;
	char *notes[STEP_MAX_NOTES];		/* findings: what is wrong and the fix a person can do */
	size_t nnotes;
	char msg[512];				/* why the step failed or refused */
	uint64_t inputs;			/* running hash of the step's inputs (config and facts) */
	void *priv;				/* the step's own state from check to apply and verify */
};

struct setup_step {
	const char *name;		/* its config section and its ledger key: "storage" */
	const char *summary;		/* one line: "RAID0 over the four data drives at /raid" */
	const struct setup_key *keys;	/* the keys of its section, ended by { NULL } */
	bool once;			/* done once per set of inputs (cloud-init's per-instance):
					   not re-checked while the ledger holds it done with the same inputs */
	/* Observe and compare: step_action() for each change needed (none: in
	 * state), step_input() for each discovered fact the result depends on.
	 * Changes nothing.  SETUP_OK, SETUP_FAILED or SETUP_REFUSED. */
	int (*check)(struct setup *s, struct step_run *r);
	/* Perform what check recorded (only called when it recorded actions). */
	int (*apply)(struct setup *s, struct step_run *r);
	/* Confirm the desired state holds; step_note() for what does not. */
	int (*verify)(struct setup *s, struct step_run *r);
	/* Free priv (may be NULL). */
	void (*release)(struct step_run *r);
};

/* The steps, in the order they run (installer/steps.c). */
extern const struct setup_step *const setup_steps[];

/* ---- config (installer/conf.c) ---- */
/* The value of KEY in SECTION: the file's, else the key's default, else NULL. */
const char *setup_conf_get(const struct setup_conf *c, const char *section, const char *key);
/* "FILE:LINE" of that key in the file, or the file's name when it is not set there. */
const char *setup_conf_where(const struct setup_conf *c, const char *section, const char *key, char *buf, size_t len);
/* Strict parsers for values (FILE:LINE and the reason in r->msg on failure: SETUP_FAILED). */
int setup_conf_uint(const struct setup *s, struct step_run *r, const char *section, const char *key,
		    unsigned long long min, unsigned long long max, unsigned long long *out);
int setup_conf_bool(const struct setup *s, struct step_run *r, const char *section, const char *key, bool *out);

/* ---- a step's record (installer/run.c) ---- */
void step_action(struct step_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void step_note(struct step_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void step_input(struct step_run *r, const char *name, const char *value);
/* Set r->msg and return result (SETUP_FAILED, SETUP_REFUSED or SETUP_REBOOT). */
int step_fail(struct step_run *r, int result, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the system (installer/sys.c) ---- */
/* The largest file setup_file_want compares. */
#define SETUP_MAX_FILE (1u << 20)
/* The `tb` front end installed with this program (PREFIX/bin/tb), for
 * steps that run tb commands (tb fan calibrate, tb diag). */
int setup_tb_command(char *out, size_t len);
/* ROOT + path (path absolute).  -ENAMETOOLONG when it does not fit. */
int setup_path(const struct setup *s, const char *path, char *out, size_t len);
/* Run a real tool that changes the system: argv[0] found on PATH, stdin
 * /dev/null, output to the log (its last lines kept in r->msg on failure).
 * Its exit status (0 = success), or negative errno when it could not run;
 * -EPERM in a plan. */
int setup_exec(struct setup *s, struct step_run *r, const char *const argv[]);
/* Run a tool that only reads (blkid, mdadm --examine, lsblk): allowed in a
 * plan; its stderr goes to the log (nowhere without one); its stdout (at most cap-1 bytes, NUL-terminated) in out.  Exit status
 * or negative errno. */
int setup_capture(struct setup *s, const char *const argv[], char *out, size_t cap);
/* The same with stderr in out too: a checker's complaint to pass on. */
int setup_capture_all(struct setup *s, const char *const argv[], char *out, size_t cap);
/* A file under the root: at most max bytes, a regular file only (a FIFO or a
 * device is refused).  0 and a malloc'd, NUL-terminated copy; -ENOENT when
 * absent. */
int setup_file_read(const struct setup *s, const char *path, size_t max, char **content, size_t *len);
/* mkdir -p (0755) of the directories of path (under the root). */
int setup_make_parents(const struct setup *s, const char *path);
/* Want path (under the root) to hold exactly content with mode (owner root).
 * setup_file_want in check: records an action when it differs ("create",
 * "update" with the number of lines changed, "chmod"); returns 0 either way
 * (r->nactions tells), SETUP_FAILED when the file cannot be read.
 * setup_file_write in apply: writes it atomically (a temporary file in the
 * same directory, fsync, rename, fsync of the directory), creating missing
 * directories 0755. */
int setup_file_want(struct setup *s, struct step_run *r, const char *path, const char *content, size_t len,
		    mode_t mode);
int setup_file_write(struct setup *s, struct step_run *r, const char *path, const char *content, size_t len,
		     mode_t mode);

#endif
