/* tb setup: plan, apply and verify the appliance's desired state; status
 * of the last runs; the documented default config. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "installer/runner.h"

#define LOCK_PATH "/var/lib/tb-setup/lock"
#define LOG_PATH "/var/log/tb-setup.log"
#define DEFAULT_CONF "/etc/tb/setup.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb setup plan   [--root DIR] [--config FILE] [--json]\n"
		"       tb setup apply  [--root DIR] [--config FILE] [--json]\n"
		"       tb setup verify [--root DIR] [--config FILE] [--json]\n"
		"       tb setup status [--root DIR] [--json]\n"
		"       tb setup config [--check] [--root DIR] [--config FILE]\n\n"
		"Brings the appliance to the state its config describes (default ROOT%s;\n"
		"absent: every default), step by step:",
		DEFAULT_CONF);
	for (size_t i = 0; setup_steps[i]; i++)
		fprintf(f, "%s %s", i ? "," : "", setup_steps[i]->name);
	fprintf(f, ".\n\n"
		   "  plan    show every change each step would make; change nothing\n"
		   "  apply   make them (a second apply finds nothing to change); a run cut\n"
		   "          short resumes: each step is checked again, never repeated blind\n"
		   "  verify  check that the desired state holds\n"
		   "  status  each step's last result from the ledger (ROOT/var/lib/tb-setup)\n"
		   "  config  print the documented default config; --check validates one\n\n"
		   "  --root DIR     apply into a target root (an image, a test); default /\n"
		   "  --config FILE  the config file (default ROOT%s)\n"
		   "  --json         the report as JSON (schema tb.setup/1)\n\n"
		   "Exit status: 0 done, 1 a step failed, 2 refused for safety (nothing\n"
		   "changed), 75 a reboot is needed to continue (the tb-setup unit reboots\n"
		   "and resumes).  The commands run are logged in ROOT%s.\n",
		   DEFAULT_CONF, LOG_PATH);
}

struct options {
	const char *cmd, *root, *config;
	bool json, check;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "root", required_argument, NULL, 'r' }, { "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },	  { "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'r': o->root = optarg; break;
		case 'c': o->config = optarg; break;
		case 'j': o->json = true; break;
		case 'k': o->check = true; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tb setup: %s; see tb setup --help\n",
			optind == argc ? "which command? plan, apply, verify, status or config" : "one command only");
		return 2;
	}
	o->cmd = argv[optind];
	static const char *const cmds[] = { "plan", "apply", "verify", "status", "config" };
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(o->cmd, cmds[i]))
			return -1;
	fprintf(stderr, "tb setup: unknown command '%s'; see tb setup --help\n", o->cmd);
	return 2;
}

static int set_root(struct setup *s, const char *root)
{
	char *real = realpath(root ? root : "/", NULL);
	if (!real) {
		fprintf(stderr, "tb setup: --root %s: %s\n", root, strerror(errno));
		return -1;
	}
	s->live = !strcmp(real, "/");
	snprintf(s->root, sizeof s->root, "%s", s->live ? "" : real);
	bool fits = strlen(real) < sizeof s->root;
	free(real);
	if (!fits) {
		fprintf(stderr, "tb setup: --root %s: the path is too long\n", root);
		return -1;
	}
	return 0;
}

/* [setup] skip names only steps there are. */
static int check_skip(const struct setup *s)
{
	const char *list = setup_conf_get(s->conf, "setup", "skip");
	for (const char *p = list; p && *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t len = strcspn(p, ", ");
		bool known = len == 0;
		for (size_t i = 0; setup_steps[i] && !known; i++)
			known = strlen(setup_steps[i]->name) == len && !strncmp(setup_steps[i]->name, p, len);
		if (!known) {
			char where[PATH_MAX + 64];
			fprintf(stderr, "tb setup: %s: skip: there is no step '%.*s'\n",
				setup_conf_where(s->conf, "setup", "skip", where, sizeof where), (int)len, p);
			return -1;
		}
		p += len;
	}
	return 0;
}

static int load_config(struct setup *s, const char *config, struct setup_conf **conf)
{
	char err[1024];
	if (config)
		snprintf(s->conf_path, sizeof s->conf_path, "%s", config);
	else if (setup_path(s, DEFAULT_CONF, s->conf_path, sizeof s->conf_path) < 0) {
		fprintf(stderr, "tb setup: the root's path is too long\n");
		return -1;
	}
	if (setup_conf_load(s->conf_path, !config, conf, err, sizeof err) < 0) {
		fprintf(stderr, "tb setup: %s\n", err);
		return -1;
	}
	s->conf = *conf;
	struct step_run r = { 0 };
	unsigned long long t;
	if (setup_conf_uint(s, &r, "setup", "command_timeout", 1, 7 * 24 * 3600, &t) != SETUP_OK) {
		fprintf(stderr, "tb setup: %s\n", r.msg);
		return -1;
	}
	s->command_timeout_s = (unsigned)t;
	return check_skip(s);
}

/* One tb setup at a time changes a root.  A plan or verify takes the lock
 * only when it exists (they must not create files). */
static int take_lock(const struct setup *s, bool create)
{
	char path[PATH_MAX];
	if (setup_path(s, LOCK_PATH, path, sizeof path) < 0)
		return -ENAMETOOLONG;
	if (create && setup_make_parents(s, LOCK_PATH) < 0)
		return -errno;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0644);
	if (fd < 0)
		return errno == ENOENT && !create ? 0 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd; /* held until exit */
}

static int open_log(struct setup *s)
{
	char path[PATH_MAX];
	if (setup_path(s, LOG_PATH, path, sizeof path) < 0 || setup_make_parents(s, LOG_PATH) < 0)
		return -1;
	s->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->log_fd < 0)
		return -errno;
	char stamp[64];
	time_t now = time(NULL);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	dprintf(s->log_fd, "== %s tb setup apply (root %s)\n", stamp, s->live ? "/" : s->root);
	return 0;
}

/* The tools the steps run live in sbin too (mdadm, mkfs.ext4). */
static void ensure_sbin_on_path(void)
{
	const char *path = getenv("PATH");
	if (!path || !*path) {
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
		return;
	}
	if (strstr(path, "/sbin"))
		return;
	char *more;
	if (asprintf(&more, "%s:/usr/sbin:/sbin", path) > 0) {
		setenv("PATH", more, 1);
		free(more);
	}
}

static void print_summary(const struct runner *run, const char *cmd, int result)
{
	const unsigned *n = run->count;
	if (run->s->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o}", "schema", "tb.setup/1", "command", cmd,
				      "root", run->s->live ? "/" : run->s->root, "result", result, "changed",
				      (int)(n[OUTCOME_CHANGED] + n[OUTCOME_WOULD_CHANGE]), "unchanged",
				      (int)(n[OUTCOME_OK] + n[OUTCOME_SKIPPED]), "failed",
				      (int)(n[OUTCOME_FAILED] + n[OUTCOME_REFUSED] + n[OUTCOME_REBOOT]), "steps",
				      json_incref(run->json_steps));
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
		return;
	}
	const char *verdict = result == SETUP_OK ? "done" : result == SETUP_REFUSED ? "refused (nothing changed)"
			    : result == SETUP_REBOOT ? "reboot needed to continue" : "failed";
	if (!strcmp(cmd, "plan"))
		printf("plan: %u step%s would change, %u unchanged%s\n", n[OUTCOME_WOULD_CHANGE],
		       n[OUTCOME_WOULD_CHANGE] == 1 ? "" : "s", n[OUTCOME_OK] + n[OUTCOME_SKIPPED],
		       result == SETUP_OK ? "" : result == SETUP_REFUSED ? "; refused" : "; a check failed");
	else
		printf("%s: %u changed, %u unchanged, %u failed: %s\n", cmd, n[OUTCOME_CHANGED],
		       n[OUTCOME_OK] + n[OUTCOME_SKIPPED], n[OUTCOME_FAILED] + n[OUTCOME_REFUSED] + n[OUTCOME_REBOOT],
		       verdict);
}

static int cmd_status(struct setup *s)
{
	struct ledger l;
	char err[512];
	if (ledger_load(s, &l, err, sizeof err) < 0) {
		fprintf(stderr, "tb setup: %s\n", err);
		return SETUP_FAILED;
	}
	json_t *steps = json_array();
	int result = SETUP_OK;
	for (size_t i = 0; setup_steps[i]; i++) {
		const struct ledger_entry *e = ledger_find(&l, setup_steps[i]->name, false);
		const char *state = e ? ledger_state_name(e->state) : "pending";
		char when[64] = "-";
		if (e)
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&e->time));
		if (!e || e->state != LEDGER_DONE)
			result = SETUP_FAILED;
		if (s->json)
			json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:i, s:s}", "name", setup_steps[i]->name,
							       "state", state, "time", when, "changes",
							       e ? (int)e->changes : 0, "message",
							       e ? e->message : ""));
		else
			printf("%-9s %-8s %-20s %s\n", setup_steps[i]->name, state, when,
			       e && e->message[0] ? e->message : "");
	}
	if (s->json) {
		json_t *j = json_pack("{s:s, s:s, s:b, s:o}", "schema", "tb.setup.status/1", "root",
				      s->live ? "/" : s->root, "done", result == SETUP_OK, "steps", steps);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		json_decref(steps);
		printf("%s\n", result == SETUP_OK ? "setup: done" : "setup: not done (tb setup apply continues it)");
	}
	return result;
}

static int run_command(struct setup *s, const struct options *o)
{
	enum runner_command cmd = !strcmp(o->cmd, "plan") ? RUN_PLAN : !strcmp(o->cmd, "apply") ? RUN_APPLY : RUN_VERIFY;
	s->plan = cmd != RUN_APPLY;
	int lock = take_lock(s, cmd == RUN_APPLY);
	if (lock < 0) {
		fprintf(stderr, "tb setup: %s\n",
			lock == -EBUSY ? "another tb setup is running on this root; try again when it is done"
				       : strerror(-lock));
		return lock == -EBUSY ? SETUP_REFUSED : SETUP_FAILED;
	}
	if (cmd == RUN_APPLY && open_log(s) < 0)
		fprintf(stderr, "tb setup: note: cannot open the log ROOT%s: %s\n", LOG_PATH, strerror(errno));
	struct runner run = { .s = s, .out = stdout, .tty = isatty(1), .json_steps = json_array() };
	int result = runner_run(&run, cmd);
	print_summary(&run, o->cmd, result);
	json_decref(run.json_steps);
	return result;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct setup s = { .log_fd = -1, .json = o.json };
	if (set_root(&s, o.root) < 0)
		return SETUP_FAILED;
	ensure_sbin_on_path();
	if (!strcmp(o.cmd, "config") && !o.check) {
		setup_conf_print_defaults(stdout);
		return 0;
	}
	struct setup_conf *conf = NULL;
	if (load_config(&s, o.config, &conf) < 0)
		return SETUP_FAILED;
	if (!strcmp(o.cmd, "config")) {
		printf("%s: valid\n", s.conf_path);
		rc = 0;
	} else if (!strcmp(o.cmd, "status"))
		rc = cmd_status(&s);
	else
		rc = run_command(&s, &o);
	setup_conf_free(conf);
	return rc;
}
