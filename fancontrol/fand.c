/* tb-fand: the acoustic fan controller daemon.
 *
 *   tb-fand [--config FILE] [--calibration FILE] [--status-dir DIR]
 *   tb-fand --check [--config FILE]     validate the config and exit
 *   tb-fand --release [--config FILE]   give every fan back to firmware and exit
 *
 * Runs the control core (libtbfan) against the box's sensors and fans
 * every interval_s.  SIGHUP reloads the config (a bad one is logged and the
 * running one kept); SIGTERM/SIGINT and crashes give the fans back to
 * firmware control.  Under systemd (Type=notify) it reports READY=1 after
 * its first control step and WATCHDOG=1 after each one, so a hung daemon is
 * killed and restarted; ExecStopPost runs --release for the case no
 * handler can catch (SIGKILL). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "fancontrol/io_sysfs.h"

#define DEFAULT_CONFIG "/etc/tb-fand.conf"
#define DEFAULT_CALIBRATION "/var/lib/tb-fand/calibration.conf"

static volatile sig_atomic_t stop_signal, reload_pending;
/* For the crash handler: what to write to give the fans back. */
static const struct fc_sysfs_io *volatile crash_io;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_pending = 1;
}

static void on_crash(int sig)
{
	if (crash_io)
		fc_sysfs_io_emergency_release(crash_io);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void log_line(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "tb-fand: %s\n", msg);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tb-fand [--config FILE] [--calibration FILE] [--status-dir DIR]\n"
		   "       tb-fand --check [--config FILE]\n"
		   "       tb-fand --release [--config FILE]\n"
		   "\n"
		   "The acoustic fan controller (default config %s).\n"
		   "  --check       validate the config and exit (status 2 when it is bad)\n"
		   "  --release     give every fan back to firmware automatic control and exit\n"
		   "  --status-dir  where status.json and status.txt go (overrides the config)\n"
		   "  --calibration what 'tb fan calibrate' measured, laid over the config's fans\n"
		   "                (default %s, when it exists)\n",
		DEFAULT_CONFIG, DEFAULT_CALIBRATION);
}

static void install_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND;
	int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
		sigaction(crash[i], &sa, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write DIR/NAME atomically (readers never see half a status). */
static void write_status(const char *dir, const char *name, const char *text)
{
	char tmp[600], path[600];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fputs(text, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void publish(const struct fc_ctl *c)
{
	static char buf[32768];
	if (fc_status_json(c, buf, sizeof buf) >= 0)
		write_status(c->cfg.status_dir, FC_STATUS_JSON, buf);
	if (fc_status_text(c, buf, sizeof buf) >= 0)
		write_status(c->cfg.status_dir, FC_STATUS_TEXT, buf);
}

struct daemon {
	const char *config_path, *status_dir, *calibration_path;
	bool calibration_given;
	struct fc_config cfg, scratch;
	struct fc_sysfs_io io;
	struct fc_ctl ctl;
};

static int load(struct daemon *d, struct fc_config *into)
{
	char err[512];
	if (fc_config_load(d->config_path, into, err, sizeof err) < 0) {
		fprintf(stderr, "tb-fand: %s\n", err);
		return -EINVAL;
	}
	/* what `tb fan calibrate` measured, when there is a measurement */
	if ((d->calibration_given || access(d->calibration_path, F_OK) == 0) &&
	    fc_calibration_apply(into, d->calibration_path, err, sizeof err) < 0) {
		fprintf(stderr, "tb-fand: %s\n", err);
		return -EINVAL;
	}
	if (d->status_dir)
		snprintf(into->status_dir, sizeof into->status_dir, "%s", d->status_dir);
	return 0;
}

/* A new config replaces the running one only when it parses; the fans
 * stay where they are meanwhile (no release, no jolt). */
static void reload(struct daemon *d)
{
	sd_notify(0, "RELOADING=1");
	if (load(d, &d->scratch) < 0) {
		fprintf(stderr, "tb-fand: reload refused, keeping the running config\n");
		sd_notify(0, "READY=1\nSTATUS=reload refused: bad config, running the previous one");
		return;
	}
	/* the lock and the status stay where they are until a restart */
	snprintf(d->scratch.status_dir, sizeof d->scratch.status_dir, "%s", d->cfg.status_dir);
	crash_io = NULL;
	fc_sysfs_io_close(&d->io);
	d->cfg = d->scratch;
	fc_sysfs_io_open(&d->io, &d->cfg, log_line, NULL);
	fc_reconfigure(&d->ctl, &d->cfg);
	crash_io = &d->io;
	fprintf(stderr, "tb-fand: reloaded %s\n", d->config_path);
	sd_notify(0, "READY=1\nSTATUS=config reloaded");
}

static void sleep_until(double t)
{
	struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* a signal ends it early */
}

/* One controller at a time: two would fight over the fans.  The lock is
 * flock(2) on FC_LOCK_FILE in the status directory, so it dies with its
 * holder (a SIGKILLed instance leaves no lock behind, only the file); the
 * file holds the holder's pid for messages.  A `tb fan status` tests the
 * lock with a brief shared flock, so a busy lock is retried for a moment
 * before it counts as another instance's. */
#define LOCK_TRIES 20
#define LOCK_RETRY_NS 50000000L

static int take_lock(const char *dir)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, FC_LOCK_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		fprintf(stderr, "tb-fand: cannot open the lock %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK || i + 1 >= LOCK_TRIES) {
			char pid[32] = "";
			ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
			pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
			if (errno == EWOULDBLOCK)
				fprintf(stderr, "tb-fand: another tb-fand (pid %s) holds %s; not starting\n",
					*pid ? pid : "?", path);
			else
				fprintf(stderr, "tb-fand: cannot lock %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		nanosleep(&(struct timespec){0, LOCK_RETRY_NS}, NULL);
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "tb-fand: cannot write the pid to %s: %s\n", path, strerror(errno));
	return fd; /* held until exit */
}

static int run(struct daemon *d)
{
	mkdir(d->cfg.status_dir, 0755);
	if (take_lock(d->cfg.status_dir) < 0)
		return 1;
	if (fc_sysfs_io_open(&d->io, &d->cfg, log_line, NULL) < 0) {
		fprintf(stderr, "tb-fand: libsensors cannot start\n");
		return 1;
	}
	fc_init(&d->ctl, &d->cfg, FC_POLICY_ACOUSTIC, log_line, NULL);
	crash_io = &d->io;
	fprintf(stderr, "tb-fand: controlling %d fans for %d zones\n", d->cfg.nfans, d->cfg.nzones);
	struct fc_io io = fc_sysfs_io(&d->io);
	double next = now_s();
	bool ready = false;
	while (!stop_signal) {
		if (reload_pending) {
			reload_pending = 0;
			reload(d);
			io = fc_sysfs_io(&d->io);
		}
		double t = now_s();
		if (t < next) {
			sleep_until(next);
			continue;
		}
		fc_tick(&d->ctl, &io, t);
		publish(&d->ctl);
		sd_notify(0, ready ? "WATCHDOG=1" : "READY=1\nWATCHDOG=1");
		ready = true;
		next += d->cfg.interval_s;
		if (next < t)
			next = t + d->cfg.interval_s; /* fell behind: do not burst */
	}
	sd_notify(0, "STOPPING=1");
	fc_release(&d->ctl, &io);
	crash_io = NULL;
	fc_sysfs_io_close(&d->io);
	fprintf(stderr, "tb-fand: signal %d, fans given back to firmware control\n", (int)stop_signal);
	return 0;
}

static int release_only(struct daemon *d)
{
	if (fc_sysfs_io_open(&d->io, &d->cfg, log_line, NULL) < 0)
		return 1;
	fc_init(&d->ctl, &d->cfg, FC_POLICY_ACOUSTIC, log_line, NULL);
	struct fc_io io = fc_sysfs_io(&d->io);
	fc_release(&d->ctl, &io);
	fc_sysfs_io_close(&d->io);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"status-dir", required_argument, 0, 's'},
					     {"check", no_argument, 0, 'k'}, {"release", no_argument, 0, 'r'},
					     {"calibration", required_argument, 0, 'C'},
					     {"help", no_argument, 0, 'h'}, {0}};
	static struct daemon d = {.config_path = DEFAULT_CONFIG, .calibration_path = DEFAULT_CALIBRATION};
	bool check = false, release = false;
	argv[0] = (char *)"tb-fand"; /* getopt's messages: the program's name, not its path */
	for (int o; (o = getopt_long(argc, argv, "c:s:krh", opts, NULL)) != -1;) {
		switch (o) {
		case 'c': d.config_path = optarg; break;
		case 'C': d.calibration_path = optarg, d.calibration_given = true; break;
		case 's': d.status_dir = optarg; break;
		case 'k': check = true; break;
		case 'r': release = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tb-fand: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (load(&d, &d.cfg) < 0)
		return 2;
	if (check)
		return 0;
	if (release)
		return release_only(&d);
	install_signals();
	return run(&d);
}
