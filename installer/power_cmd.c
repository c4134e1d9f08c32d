/* tb power: the GPUs' power caps for one outlet.
 *
 *   tb power [--json] [--config FILE]          the budget, each GPU's cap, range and draw
 *   tb power apply [--config FILE] [--hwmon hwmonN]
 *                                              write the caps of FILE and read them back
 *
 * The caps file (/etc/tb/power.conf) is written by `tb setup apply`;
 * tb-power.service runs `tb power apply` at every boot and tb-power@.service
 * (from 90-tb-power.rules) for one GPU whenever its hwmon appears. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "installer/power.h"

#define DEFAULT_CONFIG "/etc/tb/power.conf"
enum { EXIT_PROBLEM = 1, EXIT_USAGE = 2, UW_PER_W = 1000000 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb power [--json] [--config FILE]\n"
		"       tb power apply [--config FILE] [--hwmon hwmonN]\n"
		"\n"
		"  (status)  the outlet's budget, the host's allowance, and each GPU by PCI address:\n"
		"            its cap (configured and current), the card's min/max and its draw\n"
		"            (power1_average); exit 1 when a GPU's cap is not the configured one,\n"
		"            a configured GPU is missing or a GPU has no configured cap\n"
		"  apply     write each GPU's cap from FILE to its power1_cap and read it back;\n"
		"            a GPU FILE does not list gets its minimum; exit 1 when a cap could\n"
		"            not be set or reads back otherwise, or a GPU is missing or unlisted\n"
		"\n"
		"  --config FILE  the caps (default " DEFAULT_CONFIG ", written by tb setup apply)\n"
		"  --hwmon NAME   only the GPU of this hwmon device (as a udev event names it)\n"
		"  --json         the status as one JSON object\n");
}

static long watts(long long uw)
{
	return (long)(uw / UW_PER_W);
}

/* ---- status ---- */

struct status {
	struct power_conf conf;
	bool have_conf;
	char conf_why[512];
	struct power_gpu gpu[POWER_MAX_GPUS];
	int n;
	char problems[POWER_MAX_GPUS * 2 + 2][320];
	size_t nproblems;
};

static void problem(struct status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct status *st, const char *fmt, ...)
{
	if (st->nproblems == sizeof st->problems / sizeof st->problems[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->problems[st->nproblems++], sizeof st->problems[0], fmt, ap);
	va_end(ap);
}

static bool gpu_present(const struct status *st, const char *pci)
{
	for (int i = 0; i < st->n; i++)
		if (!strcmp(st->gpu[i].pci, pci))
			return true;
	return false;
}

static void judge(struct status *st)
{
	for (int i = 0; i < st->n && st->have_conf; i++) {
		const long *cap = power_conf_cap(&st->conf, st->gpu[i].pci);
		if (!cap)
			problem(st, "GPU %s has no cap in the config: run tb setup apply", st->gpu[i].pci);
		else if (st->gpu[i].cap_uw != (long long)*cap * UW_PER_W)
			problem(st, "GPU %s: power1_cap is %ld W, the config says %ld W: run tb power apply",
				st->gpu[i].pci, watts(st->gpu[i].cap_uw), *cap);
	}
	for (size_t k = 0; k < st->conf.n && st->have_conf; k++)
		if (!gpu_present(st, st->conf.gpu[k].pci))
			problem(st, "GPU %s (in the config) is not here: no amdgpu device with a power cap",
				st->conf.gpu[k].pci);
	if (!st->have_conf)
		problem(st, "%s", st->conf_why);
	if (st->n == 0)
		problem(st, "no GPU with a power cap (amdgpu hwmon power1_cap)");
}

static json_t *status_json(const struct status *st, const char *config)
{
	json_t *o = json_object(), *gpus = json_array(), *problems = json_array();
	json_object_set_new(o, "config", json_string(config));
	if (st->have_conf)
		json_object_set_new(o, "budget",
				    json_pack("{s:I,s:I,s:I,s:I}", "outlet_w", (json_int_t)st->conf.outlet_w, "host_w",
					      (json_int_t)st->conf.host_w, "psu_efficiency_pct",
					      (json_int_t)st->conf.psu_efficiency_pct, "gpus_w", (json_int_t)st->conf.gpus_w));
	else
		json_object_set_new(o, "budget", json_null());
	long long caps = 0, draw = 0;
	bool draw_known = true;
	for (int i = 0; i < st->n; i++) {
		const struct power_gpu *g = &st->gpu[i];
		const long *want = st->have_conf ? power_conf_cap(&st->conf, g->pci) : NULL;
		json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I}", "pci", g->pci, "cap_w", (json_int_t)watts(g->cap_uw),
				      "min_w", (json_int_t)watts(g->min_uw), "max_w", (json_int_t)watts(g->max_uw),
				      "default_w", (json_int_t)watts(g->default_uw));
		json_object_set_new(j, "configured_cap_w", want ? json_integer(*want) : json_null());
		json_object_set_new(j, "draw_w", g->average_uw >= 0 ? json_real((double)g->average_uw / UW_PER_W) : json_null());
		json_object_set_new(j, "ok", json_boolean(want && g->cap_uw == (long long)*want * UW_PER_W));
		json_array_append_new(gpus, j);
		caps += g->cap_uw;
		draw_known &= g->average_uw >= 0;
		draw += g->average_uw >= 0 ? g->average_uw : 0;
	}
	json_object_set_new(o, "gpus", gpus);
	json_object_set_new(o, "total_cap_w", json_integer(watts(caps)));
	json_object_set_new(o, "total_draw_w", draw_known ? json_real((double)draw / UW_PER_W) : json_null());
	for (size_t i = 0; i < st->nproblems; i++)
		json_array_append_new(problems, json_string(st->problems[i]));
	json_object_set_new(o, "problems", problems);
	json_object_set_new(o, "ok", json_boolean(st->nproblems == 0));
	return o;
}

static void status_text(const struct status *st, const char *config)
{
	if (st->have_conf)
		printf("outlet %ld W continuous, host allowance %ld W, PSU %ld%%: the GPUs may draw %ld W (%s)\n",
		       st->conf.outlet_w, st->conf.host_w, st->conf.psu_efficiency_pct, st->conf.gpus_w, config);
	printf("%-14s %7s %7s %7s %7s %8s\n", "GPU", "cap W", "config", "min W", "max W", "draw W");
	long long caps = 0, draw = 0;
	for (int i = 0; i < st->n; i++) {
		const struct power_gpu *g = &st->gpu[i];
		const long *want = st->have_conf ? power_conf_cap(&st->conf, g->pci) : NULL;
		char cfg[24] = "-", avg[24] = "-";
		if (want)
			snprintf(cfg, sizeof cfg, "%ld", *want);
		if (g->average_uw >= 0)
			snprintf(avg, sizeof avg, "%.1f", (double)g->average_uw / UW_PER_W);
		printf("%-14s %7ld %7s %7ld %7ld %8s\n", g->pci, watts(g->cap_uw), cfg, watts(g->min_uw), watts(g->max_uw),
		       avg);
		caps += g->cap_uw;
		draw += g->average_uw > 0 ? g->average_uw : 0;
	}
	printf("%-14s %7ld %7s %7s %7s %8.1f\n", "total", watts(caps), "", "", "", (double)draw / UW_PER_W);
	for (size_t i = 0; i < st->nproblems; i++)
		printf("problem: %s\n", st->problems[i]);
}

static int cmd_status(const char *config, bool json)
{
	static struct status st;
	char why[512] = "";
	int rc = power_conf_load(config, &st.conf, st.conf_why, sizeof st.conf_why);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "tb power: %s\n", st.conf_why);
		return EXIT_USAGE;
	}
	if (rc == -ENOENT)
		snprintf(st.conf_why, sizeof st.conf_why, "%s: no caps configured: run tb setup apply", config);
	st.have_conf = rc == 0;
	st.n = power_gpus_find(st.gpu, POWER_MAX_GPUS, why, sizeof why);
	if (st.n < 0) {
		fprintf(stderr, "tb power: %s\n", why);
		return EXIT_PROBLEM;
	}
	judge(&st);
	if (json) {
		json_t *o = status_json(&st, config);
		char *text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!text)
			return EXIT_PROBLEM;
		puts(text);
		free(text);
	} else {
		status_text(&st, config);
	}
	return st.nproblems ? EXIT_PROBLEM : 0;
}

/* ---- apply ---- */

struct tally {
	int changed, unchanged, failed;
};

/* One GPU to its cap (or, unlisted, to its minimum). */
static void apply_one(struct power_gpu *g, const struct power_conf *c, struct tally *t)
{
	char why[512];
	const long *want = power_conf_cap(c, g->pci);
	struct power_range r = power_gpu_range(g);
	long cap = want ? *want : r.min_w;
	if (!want)
		fprintf(stderr, "tb power apply: GPU %s is not in the config: set to its minimum, %ld W; run tb setup apply\n",
			g->pci, cap);
	if (cap < r.min_w || cap > r.max_w) {
		fprintf(stderr, "tb power apply: GPU %s: the cap %ld W is outside the card's %ld..%ld W: run tb setup apply\n",
			g->pci, cap, r.min_w, r.max_w);
		t->failed++;
		return;
	}
	long before = watts(g->cap_uw);
	if (g->cap_uw == (long long)cap * UW_PER_W) {
		printf("%s: %ld W (unchanged)\n", g->pci, cap);
		t->unchanged++;
	} else if (power_cap_write(g, cap, why, sizeof why) < 0) {
		fprintf(stderr, "tb power apply: %s\n", why);
		t->failed++;
		return;
	} else {
		printf("%s: %ld W -> %ld W (read back)\n", g->pci, before, cap);
		t->changed++;
	}
	if (!want)
		t->failed++;	/* capped safely, but the config must be made again */
}

static int cmd_apply(const char *config, const char *hwmon)
{
	static struct power_conf c;
	static struct power_gpu gpu[POWER_MAX_GPUS];
	char why[512];
	int rc = power_conf_load(config, &c, why, sizeof why);
	if (rc < 0) {
		fprintf(stderr, "tb power apply: %s\n", why);
		return rc == -ENOENT ? EXIT_PROBLEM : EXIT_USAGE;	/* a bad or over-budget file: refused */
	}
	struct tally t = { 0 };
	if (hwmon) {
		if (power_gpu_by_hwmon(hwmon, &gpu[0], why, sizeof why) < 0) {
			fprintf(stderr, "tb power apply: %s\n", why);
			return EXIT_PROBLEM;
		}
		apply_one(&gpu[0], &c, &t);
	} else {
		int n = power_gpus_find(gpu, POWER_MAX_GPUS, why, sizeof why);
		if (n < 0) {
			fprintf(stderr, "tb power apply: %s\n", why);
			return EXIT_PROBLEM;
		}
		for (int i = 0; i < n; i++)
			apply_one(&gpu[i], &c, &t);
		for (size_t k = 0; k < c.n; k++) {
			bool here = false;
			for (int i = 0; i < n; i++)
				here |= !strcmp(gpu[i].pci, c.gpu[k].pci);
			if (!here) {
				fprintf(stderr, "tb power apply: GPU %s (%s:%d) is not here\n", c.gpu[k].pci, config,
					c.gpu[k].line);
				t.failed++;
			}
		}
	}
	printf("%d changed, %d unchanged, %d failed\n", t.changed, t.unchanged, t.failed);
	return t.failed ? EXIT_PROBLEM : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
					      { "hwmon", required_argument, 0, 'w' },
					      { "json", no_argument, 0, 'j' },
					      { "help", no_argument, 0, 'h' },
					      { 0 } };
	const char *config = DEFAULT_CONFIG, *hwmon = NULL;
	bool json = false;
	for (int c; (c = getopt_long(argc, argv, "c:w:jh", opts, NULL)) != -1;) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'w': hwmon = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	bool apply = optind < argc && !strcmp(argv[optind], "apply");
	if (optind + apply != argc) {
		fprintf(stderr, "tb power: unexpected argument '%s'\n", argv[optind + apply]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (apply ? json : hwmon != NULL) {
		fprintf(stderr, "tb power: %s is for %s\n", json ? "--json" : "--hwmon",
			json ? "the status" : "tb power apply");
		return EXIT_USAGE;
	}
	return apply ? cmd_apply(config, hwmon) : cmd_status(config, json);
}
