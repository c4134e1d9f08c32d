/* tb fan: the fan controller's command.
 *
 *   tb fan status [--json] [--status-dir DIR]
 *   tb fan calibrate [--config FILE] [--output FILE] [--settle SECONDS] [--step N] [--json]
 *
 * status shows what the running tb-fand last wrote to its status directory
 * and whether it is still running; calibrate measures the fans. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fancontrol/io_sysfs.h"

#ifndef TB_SRC_DIR
#define TB_SRC_DIR "."
#endif
#define INSTALLED_CONFIG "/etc/tb-fand.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb fan status [--json] [--status-dir DIR]\n"
		"       tb fan calibrate [--config FILE] [--output FILE] [--settle SECONDS] [--step N] [--json]\n"
		"\n"
		"  status   zones, temperatures, limits, duties, rpm and the estimated dBA of the\n"
		"           running tb-fand (from DIR, default /run/tb-fand)\n"
		"  calibrate  measure each fan group's start and stop duty and its speed range,\n"
		"           one group at a time with the others at full speed, never letting a zone\n"
		"           pass its limit less half its margin; writes the calibration file tb-fand\n"
		"           reads (default /var/lib/tb-fand/calibration.conf)\n"
		"\n"
		"  --config FILE   tb-fand's config (default " INSTALLED_CONFIG ", what tb-fand reads; where\n"
		"                  there is none, the shipped fancontrol/tb-fand.conf)\n");
}

/* tb-fand's config: the installed one it reads, else the one shipped
 * in the source tree. */
static const char *default_config(char *buf, size_t len)
{
	if (access(INSTALLED_CONFIG, F_OK) == 0)
		return INSTALLED_CONFIG;
	const char *src = getenv("TB_SRC");
	snprintf(buf, len, "%s/fancontrol/tb-fand.conf", src && *src ? src : TB_SRC_DIR);
	return buf;
}

/* A number option, strictly: all of it a number ("3abc", "x", " 3" and ""
 * are not), finite, in [lo, hi], whole when asked; else a message naming
 * the option. */
static bool number_arg(const char *cmd, const char *opt, const char *s, double lo, double hi, bool whole, double *out)
{
	char *end;
	errno = 0;
	double v = *s && !isspace((unsigned char)*s) ? strtod(s, &end) : NAN;
	if (isnan(v) || *end || errno == ERANGE || !(v >= lo && v <= hi) || (whole && v != floor(v))) {
		fprintf(stderr, "%s: %s: '%s' is not a %s from %g to %g\n", cmd, opt, s, whole ? "whole number" : "number", lo,
			hi);
		return false;
	}
	*out = v;
	return true;
}

static int extra_args(const char *cmd, const char *arg)
{
	fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, arg);
	return 2;
}

/* ---- status ------------------------------------------------------------------------------------ */

/* The status files are the daemon's, but a reader still bounds them. */
#define MAX_STATUS (1 << 20)

/* A whole small regular file, NUL-terminated (NULL and errno otherwise). */
static char *read_small(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	if (fstat(fd, st) < 0)
		goto out;
	if (!S_ISREG(st->st_mode) || st->st_size > MAX_STATUS) {
		errno = S_ISREG(st->st_mode) ? EFBIG : EINVAL;
		goto out;
	}
	buf = malloc(MAX_STATUS + 1);
	size_t n = 0;
	for (ssize_t k; buf && n < MAX_STATUS && (k = read(fd, buf + n, MAX_STATUS - n)) != 0; n += (size_t)k)
		if (k < 0) {
			free(buf);
			buf = NULL;
			goto out;
		}
	if (buf)
		buf[n] = '\0';
out:
	close(fd);
	return buf;
}

struct liveness {
	long pid;		/* from the lock file, 0 when unknown */
	double age_s;		/* of the status */
	bool running;
	char problem[300];	/* empty when the daemon is running and current */
};

/* Whether a tb-fand holds the lock of dir and keeps its status current.
 * The lock is tested with a shared flock, which only succeeds when no
 * running tb-fand holds it (a killed one's lock died with it). */
static void check_daemon(const char *dir, const struct stat *st, double interval_s, struct liveness *l)
{
	char path[4096], pid[32] = "";
	snprintf(path, sizeof path, "%s/%s", dir, FC_LOCK_FILE);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	l->age_s = (double)(now.tv_sec - st->st_mtim.tv_sec) + (now.tv_nsec - st->st_mtim.tv_nsec) / 1e9;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		snprintf(l->problem, sizeof l->problem, "tb-fand is not running (no lock %s: %s); its last status is %.0f s old",
			 path, strerror(errno), l->age_s);
		return;
	}
	ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
	pid[n > 0 ? n : 0] = '\0';
	l->pid = strtol(pid, NULL, 10);
	l->running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	if (!l->running)
		snprintf(l->problem, sizeof l->problem,
			 "tb-fand (pid %ld) is not running: it exited or was killed; its last status is %.0f s old", l->pid,
			 l->age_s);
	else if (l->age_s > FC_STALE_PERIODS * interval_s)
		snprintf(l->problem, sizeof l->problem,
			 "tb-fand (pid %ld) has not updated its status for %.0f s (more than %d control periods): it is hung",
			 l->pid, l->age_s, FC_STALE_PERIODS);
}

static json_t *daemon_json(const struct liveness *l)
{
	return json_pack("{s:o,s:b,s:f,s:o}", "pid", l->pid > 0 ? json_integer(l->pid) : json_null(), "running",
			 l->running, "age_s", round(l->age_s * 10) / 10,
			 "problem", *l->problem ? json_string(l->problem) : json_null());
}

/* --json: the status with "daemon" added; a status that is not current is
 * not passed off as one: {"daemon":...,"last_status":...}, status 1. */
static int print_status_json(json_t *status, const struct liveness *l)
{
	json_t *out = status;
	if (*l->problem)
		out = json_pack("{s:o,s:O}", "daemon", daemon_json(l), "last_status", status);
	else
		json_object_set_new(status, "daemon", daemon_json(l));
	int rc = out && json_dumpf(out, stdout, JSON_COMPACT) == 0 ? 0 : 1;
	printf("\n");
	if (out != status)
		json_decref(out);
	return rc || *l->problem ? 1 : 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, 0, 'j'}, {"status-dir", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0}};
	bool json = false;
	const char *dir = getenv("TB_FAN_STATUS_DIR");
	if (!dir || !*dir)
		dir = "/run/tb-fand";
	for (int o; (o = getopt_long(argc, argv, "jd:h", opts, NULL)) != -1;) {
		if (o == 'j')
			json = true;
		else if (o == 'd')
			dir = optarg;
		else if (o == 'h')
			return usage(stdout), 0;
		else
			return usage(stderr), 2;
	}
	if (optind != argc)
		return extra_args(argv[0], argv[optind]);
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, FC_STATUS_JSON);
	char *text = read_small(path, &st);
	if (!text) {
		fprintf(stderr, "tb fan status: cannot read %s: %s (is tb-fand running?)\n", path, strerror(errno));
		return 1;
	}
	json_error_t jerr;
	json_t *status = json_loads(text, 0, &jerr);
	free(text);
	if (!json_is_object(status)) {
		fprintf(stderr, "tb fan status: %s is not a tb-fand status: %s\n", path, jerr.text);
		json_decref(status);
		return 1;
	}
	double interval = json_number_value(json_object_get(status, "interval_s"));
	struct liveness l = {0};
	check_daemon(dir, &st, interval > 0 ? interval : 0.5, &l);
	if (json) {
		int rc = print_status_json(status, &l);
		json_decref(status);
		return rc;
	}
	json_decref(status);
	if (*l.problem) {
		fprintf(stderr, "tb fan status: %s\n", l.problem);
		return 1;
	}
	snprintf(path, sizeof path, "%s/%s", dir, FC_STATUS_TEXT);
	if (!(text = read_small(path, &st))) {
		fprintf(stderr, "tb fan status: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("tb-fand (pid %ld), status of %.1f s ago\n", l.pid, l.age_s);
	fputs(text, stdout);
	free(text);
	return 0;
}

/* ---- calibrate --------------------------------------------------------------------------------- */

static void sleep_s(void *ctx, double s)
{
	(void)ctx;
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

static void show_step(void *ctx, const char *fan, int pwm, double rpm)
{
	(void)ctx;
	if (isatty(2))
		fprintf(stderr, "\rcalibrating %-12s pwm %3d: %5.0f rpm   ", fan, pwm, rpm);
}

static void log_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "tb fan calibrate: %s\n", msg);
}

static int cmd_calibrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"output", required_argument, 0, 'o'},
		{"settle", required_argument, 0, 's'}, {"step", required_argument, 0, 'n'},
		{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0}};
	char shipped[4096];
	const char *config = default_config(shipped, sizeof shipped), *output = "/var/lib/tb-fand/calibration.conf";
	struct fc_calibrate_opts o = { .settle_s = 3.0, .step = 16, .sleep = sleep_s, .progress = show_step };
	bool json = false;
	for (int c; (c = getopt_long(argc, argv, "c:o:s:n:jh", opts, NULL)) != -1;) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'o': output = optarg; break;
		case 's':
			if (!number_arg(argv[0], "--settle", optarg, 0.01, 60, false, &o.settle_s))
				return 2;
			break;
		case 'n': {
			double step;
			if (!number_arg(argv[0], "--step", optarg, 1, 128, true, &step))
				return 2;
			o.step = (int)step;
			break;
		}
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc)
		return extra_args(argv[0], argv[optind]);
	static struct fc_config cfg;
	char err[512];
	if (fc_config_load(config, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "tb fan calibrate: %s\n", err);
		return 2;
	}
	static struct fc_sysfs_io sio;
	if (fc_sysfs_io_open(&sio, &cfg, log_stderr, NULL) < 0) {
		fprintf(stderr, "tb fan calibrate: cannot read the sensors (libsensors)\n");
		return 1;
	}
	struct fc_io io = fc_sysfs_io(&sio);
	struct fc_fan_calibration r[FC_MAX_FANS];
	int n = 0;
	int rc = fc_calibrate(&cfg, &io, &o, r, &n);
	fc_sysfs_io_close(&sio);
	if (isatty(2))
		fprintf(stderr, "\n");
	int wrc = fc_calibration_write(output, r, n, err, sizeof err);
	if (wrc < 0)
		fprintf(stderr, "tb fan calibrate: %s\n", err);
	if (json) {
		printf("{\"output\":\"%s\",\"fans\":[", output);
		for (int i = 0; i < n; i++)
			printf("%s{\"fan\":\"%s\",\"ok\":%s,\"start_pwm\":%d,\"stop_pwm\":%d,\"min_rpm\":%.0f,\"max_rpm\":%.0f}",
			       i ? "," : "", r[i].name, r[i].ok ? "true" : "false", r[i].start_pwm, r[i].stop_pwm, r[i].min_rpm,
			       r[i].max_rpm);
		printf("]}\n");
	} else {
		printf("%-14s %9s %8s %8s %8s  %s\n", "fan", "start pwm", "stop pwm", "min rpm", "max rpm", "");
		for (int i = 0; i < n; i++)
			printf("%-14s %9d %8d %8.0f %8.0f  %s\n", r[i].name, r[i].start_pwm, r[i].stop_pwm, r[i].min_rpm,
			       r[i].max_rpm, r[i].ok ? "" : r[i].why);
		printf("written to %s\n", output);
	}
	return wrc < 0 ? 1 : rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* getopt names argv[0] in its messages: the command as typed, never
	 * the program's path under libexec */
	static const struct {
		const char *name, *as;
		int (*run)(int, char **);
	} cmds[] = {{"status", "tb fan status", cmd_status},
		    {"calibrate", "tb fan calibrate", cmd_calibrate}};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			argv[1] = (char *)cmds[i].as;
			return cmds[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "tb fan: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
