/* tb diag: the stress diagnostic.  Private to diag/.
 *
 * The supervisor (supervisor.c) does no GPU work: it checks what can be
 * read without any (inventory.c), starts one worker process per GPU
 * (worker.c, running the GPU tests of gputests.c), holds each worker's
 * current step to its deadline, journals every step (journal.c) and writes
 * the report (report.c).  Workers talk to it in JSON lines over a pipe. */
#ifndef TB_DIAG_H
#define TB_DIAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DIAG_MAX_GPUS 16
#define DIAG_MAX_TESTS 32
#define DIAG_SCHEMA "tb.diag/1"

enum diag_status {
	DIAG_PASS,
	DIAG_SKIPPED,
	DIAG_NOT_RUN,
	DIAG_ENV_NOT_READY,
	DIAG_FAIL,
	DIAG_HANG,
	DIAG_SYSTEM_CRASH_SUSPECTED,
};

/* what an owner does about a failure */
enum diag_action {
	DIAG_ACT_NONE,
	DIAG_ACT_RETRY,
	DIAG_ACT_RESEAT_OR_BIOS,
	DIAG_ACT_UPDATE_FW_DRIVER,
	DIAG_ACT_REPLACE_HW,
	DIAG_ACT_INVESTIGATE,
};

/* exit codes, the worst class winning */
enum diag_exit {
	DIAG_EXIT_OK = 0,
	DIAG_EXIT_HW = 1,		/* a hardware failure */
	DIAG_EXIT_HANG = 2,		/* a hang, a reset, a driver or firmware fault */
	DIAG_EXIT_INCONCLUSIVE = 3,
	DIAG_EXIT_USAGE = 4,
	DIAG_EXIT_CRASHED = 5,		/* the previous run ended in a suspected crash */
};

const char *diag_status_name(enum diag_status s);
int diag_status_parse(const char *name, enum diag_status *out);
const char *diag_action_name(enum diag_action a);

/* the "level" of a test run only after a hang, with --allow-reset */
#define DIAG_LEVEL_ON_HANG 5

/* One test: where it runs (the supervisor without GPU work, or the GPU's
 * worker) and from which level. */
struct diag_test {
	const char *name;
	int level;
	bool gpu_work;
	int budget_s;			/* wall-clock bound on the simulated box, which is the slower */
	const char *what;
};
extern const struct diag_test diag_tests[];
extern const int diag_ntests;
const struct diag_test *diag_test_find(const char *name);

/* The result of one test on one GPU, as a JSON object of the report's
 * schema: test, gpu, status, reason, action, detail, seconds,
 * measurements [{name, value, unit, threshold?, limit?}], evidence {}. */
json_t *diag_result(const char *test, int gpu, enum diag_status st, const char *reason, enum diag_action act,
		    const char *detail_fmt, ...) __attribute__((format(printf, 6, 7)));
/* add a measurement; threshold_kind "min" or "max" (NULL: none) */
void diag_measure(json_t *result, const char *name, double value, const char *unit, const char *threshold_kind,
		  double threshold);
enum diag_status diag_result_status(const json_t *result);

/* ---- the run ------------------------------------------------------------------- */

struct diag_options {
	int level;
	uint32_t gpu_mask;		/* 0: every GPU */
	const char *only[DIAG_MAX_TESTS];	/* -t: these tests only */
	int nonly;
	uint64_t seed;
	bool seed_given;
	int iterations;
	uint64_t duration_s;		/* --duration: the sustained tests' time (0: the level's budget) */
	bool until_fail;		/* soak: until a failure */
	const char *json_file;
	bool json_stream;
	bool allow_reset;
	const json_t *reference;	/* --reference, read and checked */
	const char *calibrate;		/* --calibrate FILE: write a reference */
	const char *state_dir;
	const char *share_dir;		/* where the GPU kernels are */
	bool quiet;
};

/* Run the diagnostic; returns the exit code. */
int diag_run(const struct diag_options *o);

/* ---- inventory (no GPU work) ------------------------------------------------------------ */

struct tb_gpu_info;
/* The loaded firmware's versions, by amdgpu_firmware_info's names ({} when unreadable). */
json_t *diag_firmware(const struct tb_gpu_info *gpu);
/* The GPU's counters that tell trouble: reset/VRAM-lost, RAS, AER on
 * every hop.  As a JSON object of numbers. */
json_t *diag_counters(const struct tb_gpu_info *gpu);
/* amdgpu's VRAM-lost counter (a reset count): 0 or -errno */
int diag_vram_lost(const struct tb_gpu_info *gpu, uint32_t *out);
/* Level-0 tests of one GPU (pcie, bar, counters, sensors): results appended to out. */
void diag_inventory_gpu(const struct tb_gpu_info *gpu, const json_t *counters_at_start, json_t *out,
			bool (*selected)(const char *test));
/* Other processes that hold the GPU (KFD's proc/<pid>/vram_<gpu_id>): [{pid, comm}] */
json_t *diag_gpu_holders(const struct tb_gpu_info *gpu);
/* amdgpu's module parameters that matter, by name ({} when not loaded) */
json_t *diag_module_params(void);
/* The GPU's hwmon directory: 0 or -errno */
int diag_hwmon_dir(const struct tb_gpu_info *gpu, char *out, size_t len);
/* A number in a sysfs file (base 0), or -1 when it cannot be read. */
long long diag_sysfs_number(const char *dir, const char *file);
/* After the run: counters that moved since the start (RAS, AER, resets). */
json_t *diag_counter_deltas(const json_t *before, const json_t *after);

/* ---- the worker's side ------------------------------------------------------------------- */

/* Messages to the supervisor (one JSON object a line). */
struct diag_link {
	FILE *out;
};
void diag_send(struct diag_link *l, json_t *msg);	/* takes the reference */

struct diag_worker_ctx {
	int gpu;
	const struct tb_gpu_info *info;
	uint64_t seed;
	int level;
	int iterations;
	uint32_t peers;			/* the run's GPUs: the peer copies' other ends */
	uint64_t sustain_ms;		/* each sustained (level-3) test's share of the time */
	const char *share_dir;
	struct diag_link link;
};

/* Run the selected GPU tests of one GPU in order (names[]); returns 0. */
int diag_worker_main(struct diag_worker_ctx *ctx, const char *const *names, int n);

/* ---- the crash journal ---------------------------------------------------------------- */

struct diag_journal;
int diag_journal_open(const char *state_dir, const char *run_id, struct diag_journal **out, char *err, size_t errlen);
/* a step begins / ends: appended and synced before the step runs */
int diag_journal_begin(struct diag_journal *j, int gpu, const char *test, const char *step, uint64_t seed);
int diag_journal_end(struct diag_journal *j, int gpu, const char *test, const char *status);
int diag_journal_close(struct diag_journal *j, int exit_code);
/* The steps a previous run began and never ended (it did not close), as a
 * JSON object {run, steps:[{gpu,test,step,seed,time}]}, or NULL when the
 * last run ended cleanly or was acknowledged. */
json_t *diag_journal_unfinished(const char *state_dir, char *err, size_t errlen);

/* ---- reports ----------------------------------------------------------------------- */

/* Write the report atomically (FILE.tmp then rename). */
int diag_report_write(const json_t *report, const char *path, char *err, size_t errlen);
json_t *diag_report_read(const char *path, char *err, size_t errlen);
void diag_report_table(const json_t *report, FILE *out);
int diag_report_exit_code(const json_t *report);

/* ---- the sensors over the run (watch.c) --------------------------------------------------- */

/* The supervisor reads each GPU's hwmon over the whole run, every
 * DIAG_WATCH_PERIOD_MS, and for at least DIAG_WATCH_MIN_MS. */
#define DIAG_WATCH_PERIOD_MS 250
#define DIAG_WATCH_MIN_MS 5000
struct diag_watch;
struct diag_watch *diag_watch_start(const struct tb_gpu_info *gpus, int ngpus, uint32_t mask);
/* one sample of every GPU; during[g]: the test GPU g runs now (NULL: none) */
void diag_watch_sample(struct diag_watch *w, const char *const *during);
/* the "thermal" results, one a GPU; frees w */
json_t *diag_watch_end(struct diag_watch *w);

/* PWM GPU fans break away from standstill at about 20% duty (51/255):
 * at 22% or more a fan that reads 0 rpm is not turning */
#define DIAG_FAN_DEMAND_PWM 56

/* ---- power and thermal at the cap (power.c) ------------------------------------------------ */

/* one reading of a GPU's hwmon under load */
struct diag_power_sample {
	double s;			/* since the load began */
	double watts;			/* power1_average */
	double junction_c;		/* temp2_input */
	int pwm, rpm;			/* pwm1 (0-255), fan1_input */
};
/* The "power" result of samples taken under load against the power cap
 * (W) and the junction's limit (C, where the firmware throttles): FAIL
 * THERMAL_THROTTLED, FAN_NOT_ANSWERING or POWER_OVER_CAP, else PASS, each
 * measurement with its unit and threshold; SKIPPED with too few samples. */
json_t *diag_power_judge(const char *test, int gpu, const struct diag_power_sample *smp, int n, double cap_w,
			 double limit_c);

/* ---- the live table on a terminal (live.c) ------------------------------------------------- */

struct diag_live;
struct diag_live *diag_live_start(FILE *out, uint32_t gpus, const char *const *tests, int ntests);
/* GPU's cell of test: text (a step, progress, a status); final: redraw now */
void diag_live_set(struct diag_live *l, int gpu, const char *test, const char *text, bool final);
void diag_live_end(struct diag_live *l);	/* the last drawing; frees l */

/* ---- performance verdicts (perf.c) ------------------------------------------------------- */

#define DIAG_REFERENCE_SCHEMA "tb.diag.reference/1"
double diag_median(double *v, int n);	/* sorts v */
/* a measurement that is the median of its samples, which it keeps */
void diag_measure_samples(json_t *result, const char *name, double *samples, int n, const char *unit);
/* A reference file, checked; NULL with err. */
json_t *diag_reference_read(const char *path, char *err, size_t errlen);
/* The reference a passing run's report makes: each throughput's median over its GPUs. */
json_t *diag_reference_make(const json_t *report);
/* The "perf" results of the GPUs in gpus: each GPU's throughputs (PASS
 * results' GB/s measurements) against the other GPUs' and ref's (NULL:
 * none); notes the reference and the others' median in the measurements. */
json_t *diag_perf_judge(json_t *results, uint32_t gpus, const json_t *ref);

/* ---- the kernel log and the monitor ---------------------------------------------------- */

/* Visit the kernel log's records (/dev/kmsg) after sequence number after:
 * fn(ctx, seq, text) for each (fn may be NULL); returns the last seq. */
long long diag_kmsg_scan(long long after, void (*fn)(void *, long long, const char *), void *ctx);
/* tb diag monitor ARGS: returns the exit code */
int diag_monitor(int argc, char **argv);
/* tb diag history ARGS (reports under state): returns the exit code */
int diag_history(int argc, char **argv, const char *state);

/* ---- small helpers ------------------------------------------------------------------ */

uint64_t diag_now_ms(void);
/* A regular file of at most max bytes, whole and NUL-terminated (free it),
 * or NULL with err ("" when the file does not exist); what names it in
 * the message ("a journal"). */
char *diag_read_file(const char *path, size_t max, const char *what, char *err, size_t errlen);
/* The same file as JSON. */
json_t *diag_read_json(const char *path, size_t max, const char *what, char *err, size_t errlen);
/* a file of ours larger than this is not one */
#define DIAG_FILE_MAX (64u << 20)
/* strict numbers: all of s, base 10, within [min, max] */
int diag_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* a keyed 32-bit pattern word: a hash of the address and the seed */
static inline uint32_t diag_key32(uint64_t addr, uint64_t seed)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint32_t)x;
}

#endif
