/* tb sim: start, stop and inspect the simulated box, run programs against
 * it, inject faults.
 *
 *   tb sim start [--gpus N] [--state DIR] [--plant CONFIG] [--speed X] [--drive-size BYTES]
 *                [--drive-order LIST]
 *   tb sim stop [--state DIR]
 *   tb sim status [--state DIR] [--json]
 *   tb sim run [--state DIR] -- CMD [ARGS...]
 *   tb sim fault [--state DIR] GPU KIND [ARGS] | clear [GPU]
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/box/proto.h"
#include "sim/box/state.h"
#include "sim/kmd/ns.h"
#include "sim/sim.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb sim start [--gpus N] [--state DIR] [--plant CONFIG] [--speed X] [--drive-size BYTES]\n"
		"                    [--drive-order LIST]\n"
		"       tb sim stop [--state DIR]\n"
		"       tb sim status [--state DIR] [--json]\n"
		"       tb sim run [--state DIR] -- CMD [ARGS...]\n"
		"       tb sim fault [--state DIR] GPU KIND [ARGS]   (tb sim fault --help lists the kinds)\n"
		"       tb sim fault [--state DIR] clear [GPU]\n"
		"\n"
		"The simulated box: six Radeon RX 7900 XTX behind the real kernel interface\n"
		"(/dev/kfd, /dev/dri, sysfs), served by the tb-simd daemon.\n"
		"\n"
		"  start   start the daemon (default 6 GPUs)\n"
		"  stop    stop it\n"
		"  status  the box: GPUs, their state, the kernel log\n"
		"  run     run CMD against the box: its /sys and /dev files appear where the\n"
		"          kernel's would, in a private mount namespace\n"
		"  fault   inject a fault (hang, sdma-hang, silent-hang, mes-hang, vram-bitflip,\n"
		"          vram-stuck, link, aer-ce, ras-ce, ras-ue, thermal-runaway, fan-stall,\n"
		"          sensor-freeze, sensor-loss, fall-off-bus) or clear them\n"
		"\n"
		"  --plant CONFIG  the thermal plant's parameters (default: the appliance,\n"
		"                sim/plant/appliance.conf)\n"
		"  --speed X     the plant runs X times faster than real time (1 to 100)\n"
		"  --drive-size BYTES  each NVMe drive's size (suffix K, M, G or T; default\n"
		"                256M; sparse files in the state directory)\n"
		"  --drive-order LIST  the order the kernel probes the drives in, which names\n"
		"                them: slots 0-3 data, 4 boot, e.g. 4,2,0,1,3 makes the boot\n"
		"                drive nvme0 (default 0,1,2,3,4; kernel names are not stable)\n"
		"  --state DIR   the box's state directory (default: $TB_SIM_STATE, else\n"
		"                /run/tb-sim as root, else $XDG_RUNTIME_DIR/tb-sim)\n");
}

/* Where this program lives: build/libexec/tb; the daemon is in build/bin and
 * the preloaded library in build/lib. */
static int sibling_path(const char *rel, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	if ((size_t)snprintf(out, len, "%s/../../%s", dirname(self), rel) >= len)
		return -ENAMETOOLONG;
	return access(out, F_OK) == 0 ? 0 : -ENOENT;
}

/* ---- talking to the daemon ------------------------------------------------ */

static int control(const char *state, uint32_t op, const char *arg, int32_t *err, char *text, size_t len)
{
	int s = sim_connect(state);
	if (s < 0)
		return s;
	struct sim_hello h = { .h = { SIM_HELLO, sizeof h - sizeof h.h }, .version = SIM_PROTO_VERSION,
			       .kind = SIM_CONN_CONTROL };
	static char buf[SIM_MSG_MAX];
	size_t n;
	int fd, rc = sim_send(s, &h, sizeof h, -1);
	if (rc == 0)
		rc = sim_recv(s, buf, sizeof buf, &n, &fd);
	if (rc == 0) {
		struct sim_control m = { .h = { SIM_CONTROL, sizeof m - sizeof m.h }, .op = op };
		snprintf(m.arg, sizeof m.arg, "%s", arg ? arg : "");
		rc = sim_send(s, &m, sizeof m, -1);
		if (rc == 0)
			rc = sim_recv(s, buf, sizeof buf, &n, &fd);
	}
	close(s);
	if (rc < 0)
		return rc;
	const struct sim_reply *r = (const struct sim_reply *)buf;
	if (n < sizeof *r || r->copy_out > n - sizeof *r)
		return -EPROTO;
	*err = r->err;
	if (text && len) {
		size_t l = r->copy_out < len - 1 ? r->copy_out : len - 1;
		memcpy(text, buf + sizeof *r, l);
		text[l] = '\0';
	}
	return 0;
}

/* Is a daemon answering?  0 yes, -ENOENT no box here, -ESRCH a dead daemon's
 * leftovers, -EBUSY a daemon that holds the box's lock but does not answer. */
static int probe(const char *state)
{
	int32_t err;
	if (control(state, SIM_CTL_PING, NULL, &err, NULL, 0) == 0)
		return 0;
	int holder = sim_state_holder(state);
	if (holder > 0 || holder == -EBUSY)
		return -EBUSY;
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof pidfile, "%s/simd.pid", state);
	return access(pidfile, F_OK) == 0 ? -ESRCH : -ENOENT;
}

/* What a daemon that died leaves behind: its socket and pid file (the next
 * daemon clears the rest of the state directory when it starts). */
static void remove_leftovers(const char *state)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/%s", state, SIM_SOCKET_NAME);
	unlink(p);
	snprintf(p, sizeof p, "%s/simd.pid", state);
	unlink(p);
}

static int not_running(const char *cmd, const char *state, int rc)
{
	if (rc == -EBUSY)
		fprintf(stderr, "tb sim %s: the box's daemon in %s holds its lock but does not answer\n", cmd, state);
	else if (rc == -ESRCH)
		fprintf(stderr, "tb sim %s: the box's daemon in %s has died; start it again with 'tb sim start'\n", cmd,
			state);
	else
		fprintf(stderr, "tb sim %s: no simulated box is running in %s; start one with 'tb sim start'\n", cmd,
			state);
	return 1;
}

/* ---- commands ---------------------------------------------------------------- */

struct start_opts {
	int gpus;
	const char *plant;
	int speed;
	const char *drive_size;
	const char *drive_order;
};

static int cmd_start(const char *state, const struct start_opts *so)
{
	int gpus = so->gpus;
	int rc = probe(state);
	if (rc == 0 || rc == -EBUSY) {
		fprintf(stderr, "tb sim start: a simulated box is already running in %s ('tb sim stop' first)\n", state);
		return 1;
	}
	char daemon[PATH_MAX];
	if (sibling_path("bin/tb-simd", daemon, sizeof daemon) < 0) {
		fprintf(stderr, "tb sim start: cannot find tb-simd next to this program\n");
		return 1;
	}
	if (mkdir(state, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "tb sim start: cannot create %s: %s\n", state, strerror(errno));
		return 1;
	}
	char log[PATH_MAX];
	snprintf(log, sizeof log, "%s/simd.log", state);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("tb sim start: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("tb sim start: fork");
		return 1;
	}
	if (pid == 0) {
		setsid();
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (lf >= 0 && nul >= 0) {
			dup2(nul, 0);
			dup2(lf, 1);
			dup2(lf, 2);
		}
		char gp[16], rf[16];
		snprintf(gp, sizeof gp, "%d", gpus);
		int keep = dup(pipefd[1]);	/* not close-on-exec */
		snprintf(rf, sizeof rf, "%d", keep);
		char sp[16];
		snprintf(sp, sizeof sp, "%d", so->speed);
		const char *args[20] = { "tb-simd", "--state", state, "--gpus", gp, "--ready-fd", rf, "--speed", sp };
		int n = 9;
		if (so->plant) {
			args[n++] = "--plant";
			args[n++] = so->plant;
		}
		if (so->drive_size) {
			args[n++] = "--drive-size";
			args[n++] = so->drive_size;
		}
		if (so->drive_order) {
			args[n++] = "--drive-order";
			args[n++] = so->drive_order;
		}
		args[n] = NULL;
		execv(daemon, (char *const *)args);
		_exit(127);
	}
	close(pipefd[1]);
	struct pollfd p = { pipefd[0], POLLIN, 0 };
	char buf[8] = "";
	int ready = poll(&p, 1, 60000);
	ssize_t got = ready > 0 ? read(pipefd[0], buf, sizeof buf - 1) : -1;
	close(pipefd[0]);
	if (got < 2 || strncmp(buf, "ok", 2) != 0) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == 0)
			kill(pid, SIGTERM);
		fprintf(stderr, "tb sim start: the daemon did not come up; its log (%s):\n", log);
		FILE *f = fopen(log, "r");
		char line[512];
		while (f && fgets(line, sizeof line, f))
			fprintf(stderr, "  %s", line);
		if (f)
			fclose(f);
		return 1;
	}
	printf("simulated box started: %d x Radeon RX 7900 XTX, %d NVMe drives, state in %s (daemon pid %d)\n", gpus,
	       SIM_BOX_DRIVES, state, pid);
	return 0;
}

static int cmd_stop(const char *state)
{
	int rc = probe(state);
	if (rc == -ESRCH) {
		/* the daemon died (killed, crashed): what it left is cleaned up, and
		 * the box is as stopped as asked */
		remove_leftovers(state);
		printf("simulated box stopped (its daemon had died; its leftovers in %s are removed)\n", state);
		return 0;
	}
	if (rc < 0)
		return not_running("stop", state, rc);
	int32_t err;
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof pidfile, "%s/simd.pid", state);
	if (control(state, SIM_CTL_STOP, NULL, &err, NULL, 0) < 0) {
		fprintf(stderr, "tb sim stop: the daemon did not answer\n");
		return 1;
	}
	/* stopped when the daemon is gone: its pid file removed and its lock
	 * released (the drives' loop devices are detached before either) */
	for (int i = 0; i < 200; i++) {
		if (access(pidfile, F_OK) != 0 && sim_state_holder(state) == 0) {
			printf("simulated box stopped\n");
			return 0;
		}
		usleep(50 * 1000);
	}
	fprintf(stderr, "tb sim stop: the daemon did not exit within 10 s\n");
	return 1;
}

static int cmd_status(const char *state, int json)
{
	int rc = probe(state);
	if (rc < 0) {
		if (json) {
			printf("{\"running\":false,\"state\":\"%s\",\"stale\":%s}\n", state, rc == -ESRCH ? "true" : "false");
			return 1;
		}
		return not_running("status", state, rc);
	}
	static char text[SIM_MSG_MAX];
	int32_t err;
	if (control(state, SIM_CTL_STATUS, json ? "json" : "text", &err, text, sizeof text) < 0 || err) {
		fprintf(stderr, "tb sim status: the daemon did not answer\n");
		return 1;
	}
	if (json)
		printf("{\"running\":true,\"box\":%s}\n", text);
	else
		fputs(text, stdout);
	return 0;
}

static int cmd_run(const char *state, char **argv)
{
	int rc = probe(state);
	if (rc < 0)
		return not_running("run", state, rc);
	char lib[PATH_MAX];
	if (sibling_path("lib/libtbsim-preload.so", lib, sizeof lib) < 0) {
		fprintf(stderr, "tb sim run: cannot find libtbsim-preload.so next to this program\n");
		return 1;
	}
	char real_state[PATH_MAX];
	if (!realpath(state, real_state))
		snprintf(real_state, sizeof real_state, "%s", state);
	char err[512];
	if (simns_enter(real_state, err, sizeof err) < 0) {
		fprintf(stderr, "tb sim run: %s\n", err);
		return 1;
	}
	/* the preloaded library is the kernel's stand-in in the process */
	const char *old = getenv("LD_PRELOAD");
	char pre[PATH_MAX * 2];
	snprintf(pre, sizeof pre, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	setenv("TB_SIM_SOCKET_DIR", real_state, 1);
	/* the box's programs find the tb that runs them first on PATH */
	char bin[PATH_MAX], real_bin[PATH_MAX];
	if (sibling_path("bin", bin, sizeof bin) == 0 && realpath(bin, real_bin)) {
		const char *path = getenv("PATH");
		char newpath[PATH_MAX * 2];
		if (!path || !*path)
			path = "/bin:/usr/bin";	/* what execvp searches when PATH is unset */
		if ((size_t)snprintf(newpath, sizeof newpath, "%s:%s", real_bin, path) < sizeof newpath)
			setenv("PATH", newpath, 1);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "tb sim run: cannot run %s: %s\n", argv[0], strerror(errno));
	return 127;
}

static void fault_usage(FILE *f)
{
	fprintf(f,
		"usage: tb sim fault GPU KIND [ARGS]\n"
		"       tb sim fault nvmeN thermal|gone|media-error LBA[-LBA]|slow FACTOR|clear\n"
		"       tb sim fault clear [GPU]\n"
		"\n"
		"  GPU is the GPU's index (0-5).  KIND is one of:\n"
		"    hang               a compute queue stops making progress (with none live:\n"
		"                       the next one created)\n"
		"    sdma-hang          a copy (SDMA) queue stops making progress\n"
		"    silent-hang        a compute queue stops making progress but still preempts:\n"
		"                       no event, no reset, only its lack of progress tells\n"
		"    mes-hang [N]       MES stops answering: the queue removal after the next N\n"
		"                       (default 0) times out and the GPU resets, VRAM lost\n"
		"    vram-bitflip ADDR [COUNT [STRIDE]]\n"
		"                       flip bit 0 of COUNT VRAM bytes (1), STRIDE apart (4096),\n"
		"                       from byte offset ADDR\n"
		"    vram-stuck ADDR [COUNT [STRIDE]]\n"
		"                       bit 0 of COUNT VRAM bytes (1 to 65536), STRIDE apart,\n"
		"                       stuck at 1: whatever is written there reads 1 again\n"
		"    link WIDTH SPEED   the PCIe link trains at xWIDTH, SPEED GT/s (e.g. 8 8)\n"
		"    aer-ce N [HOP]     N correctable PCIe errors at HOP: root, upstream,\n"
		"                       downstream or gpu (default)\n"
		"    ras-ce N           N correctable memory errors\n"
		"    ras-ue N           N uncorrectable memory errors\n"
		"    thermal-runaway    the GPU's cooling fails and it heats up\n"
		"    fan-stall          the GPU's fan stops (chassisN fan-stall: a chassis fan)\n"
		"    sensor-freeze      the GPU's temperature readings stop changing\n"
		"    sensor-loss        the GPU's junction sensor disappears\n"
		"    fall-off-bus       the GPU drops off the PCIe bus\n"
		"\n"
		"  tb sim fault nvmeN KIND: a drive's fault (nvme0-nvme3 data, nvme4 boot,\n"
		"  unless --drive-order named them otherwise):\n"
		"    thermal            it overheats: SMART critical warning, temperature above critical\n"
		"    gone               its controller drops off the bus: every command fails\n"
		"    media-error LBA[-LBA]\n"
		"                       reads of those logical blocks fail (unrecovered read\n"
		"                       error: error log entry, SMART media_errors)\n"
		"    slow FACTOR        its bandwidth is at most the nominal divided by FACTOR\n"
		"    clear              all of them end\n");
}

static int cmd_fault(const char *state, int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "--help")) {
		fault_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	char arg[256] = "";
	for (int i = 0; i < argc; i++) {
		if (strlen(arg) + strlen(argv[i]) + 2 > sizeof arg) {
			fprintf(stderr, "tb sim fault: arguments too long\n");
			return 2;
		}
		if (i)
			strcat(arg, " ");
		strcat(arg, argv[i]);
	}
	int rc = probe(state);
	if (rc < 0)
		return not_running("fault", state, rc);
	char msg[512];
	int32_t err;
	if (control(state, SIM_CTL_FAULT, arg, &err, msg, sizeof msg) < 0) {
		fprintf(stderr, "tb sim fault: the daemon did not answer\n");
		return 1;
	}
	if (err) {
		fprintf(stderr, "tb sim fault: %s\n", msg);
		return 2;
	}
	printf("%s\n", msg);
	return 0;
}

/* A number option, or -1 with an error that names it. */
static int parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out)
{
	if (sim_parse_int(s, lo, hi, out) == 0)
		return 0;
	fprintf(stderr, "tb sim %s: %s '%s': expected a whole number from %ld to %ld\n", cmd, opt, s, lo, hi);
	return -1;
}

/* The value of option argv[*i], or NULL (with the error said) when it has none. */
static const char *opt_value(const char *cmd, int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "tb sim %s: %s needs a value\n", cmd, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int no_more_args(const char *cmd, int i, int argc, char **argv)
{
	if (i == argc)
		return 0;
	fprintf(stderr, "tb sim %s: unexpected argument '%s' (see 'tb sim --help')\n", cmd, argv[i]);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	static const char *const cmds[] = { "start", "stop", "status", "run", "fault" };
	bool known = false;
	for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
		known |= !strcmp(cmd, cmds[k]);
	if (!known) {
		fprintf(stderr, "tb sim: unknown subcommand '%s' (see 'tb sim --help')\n", cmd);
		return 2;
	}
	bool start = !strcmp(cmd, "start");
	const char *state = NULL, *v;
	int json = 0, i = 2;
	struct start_opts so = { .gpus = SIM_DEFAULT_GPUS, .speed = 1 };
	char dflt[PATH_MAX], plant[PATH_MAX];
	for (; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--state")) {
			if (!(state = opt_value(cmd, argc, argv, &i)))
				return 2;
		} else if (start && !strcmp(o, "--gpus")) {
			if (!(v = opt_value(cmd, argc, argv, &i)) || parse_int(cmd, o, v, 1, SIM_MAX_GPUS, &so.gpus) < 0)
				return 2;
		} else if (start && !strcmp(o, "--plant")) {
			if (!(v = opt_value(cmd, argc, argv, &i)))
				return 2;
			if (!realpath(v, plant)) {
				fprintf(stderr, "tb sim start: --plant '%s': %s\n", v, strerror(errno));
				return 2;
			}
			so.plant = plant;
		} else if (start && !strcmp(o, "--drive-size")) {
			uint64_t bytes;
			if (!(v = opt_value(cmd, argc, argv, &i)))
				return 2;
			if (sim_parse_drive_size(v, &bytes) < 0) {
				fprintf(stderr, "tb sim start: --drive-size '%s': expected bytes (suffix K, M, G or T), a whole "
						"number of MiB from 16M to 16T\n", v);
				return 2;
			}
			so.drive_size = v;
		} else if (start && !strcmp(o, "--drive-order")) {
			int order[SIM_BOX_DRIVES];
			if (!(v = opt_value(cmd, argc, argv, &i)))
				return 2;
			if (sim_parse_drive_order(v, order) < 0) {
				fprintf(stderr, "tb sim start: --drive-order '%s': expected the slots 0 to %d, each once, in "
						"the order the kernel probes them, separated by commas\n", v, SIM_BOX_DRIVES - 1);
				return 2;
			}
			so.drive_order = v;
		} else if (start && !strcmp(o, "--speed")) {
			if (!(v = opt_value(cmd, argc, argv, &i)) || parse_int(cmd, o, v, 1, 100, &so.speed) < 0)
				return 2;
		} else if (!strcmp(o, "--json") && !strcmp(cmd, "status")) {
			json = 1;
		} else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			if (!strcmp(cmd, "fault"))
				fault_usage(stdout);
			else
				usage(stdout);
			return 0;
		} else if (!strcmp(o, "--")) {
			i++;
			break;
		} else if (o[0] == '-' && strcmp(cmd, "fault") != 0) {
			fprintf(stderr, "tb sim %s: unknown option '%s' (see 'tb sim --help')\n", cmd, o);
			return 2;
		} else {
			break;
		}
	}
	if (!state) {
		if (sim_state_default(dflt, sizeof dflt) < 0) {
			fprintf(stderr, "tb sim: cannot name a state directory\n");
			return 2;
		}
		state = dflt;
	}
	if (start)
		return no_more_args(cmd, i, argc, argv) < 0 ? 2 : cmd_start(state, &so);
	if (!strcmp(cmd, "stop"))
		return no_more_args(cmd, i, argc, argv) < 0 ? 2 : cmd_stop(state);
	if (!strcmp(cmd, "status"))
		return no_more_args(cmd, i, argc, argv) < 0 ? 2 : cmd_status(state, json);
	if (!strcmp(cmd, "run")) {
		if (i >= argc) {
			fprintf(stderr, "tb sim run: no command given (tb sim run -- CMD [ARGS...])\n");
			return 2;
		}
		return cmd_run(state, argv + i);
	}
	return cmd_fault(state, argc - i, argv + i);
}
