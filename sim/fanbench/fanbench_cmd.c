/* tb fanbench: tb-fand's control and two baselines over heat traces on the
 * thermal plant, in plant time (what make bench runs).
 *
 *   tb fanbench [--trace FILE]... [--json] [--config FILE] [--plant FILE] */
#include <getopt.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fanbench/fanbench.h"

#ifndef TB_SRC_DIR
#define TB_SRC_DIR "."
#endif
#define MAX_TRACES 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb fanbench [--trace FILE]... [--json] [--config FILE] [--plant FILE]\n"
		"\n"
		"tb-fand and two baselines (linear: fancontrol-style temperature-to-pwm lines;\n"
		"pid: per-zone PID without the acoustic objective) over the standard heat traces\n"
		"(fancontrol/traces) and any --trace files, on the thermal plant in plant time:\n"
		"mean and peak dBA, audible changes (a fan moving more than 10%% of its range\n"
		"within 2 s), seconds above a limit, hottest reading per zone.\n"
		"\n"
		"  --config FILE   tb-fand config (default: the shipped fancontrol/tb-fand.conf)\n"
		"  --plant FILE    plant parameters (default: the built-in appliance)\n");
}

static const char *src_path(const char *rel, char *buf, size_t len)
{
	const char *src = getenv("TB_SRC");
	snprintf(buf, len, "%s/%s", src && *src ? src : TB_SRC_DIR, rel);
	return buf;
}

static void print_table_head(void)
{
	printf("%-20s %-8s %9s %9s %8s %7s", "trace", "ctl", "mean dBA", "peak dBA", "audible", "s over");
	for (int k = 0; k < FC_BENCH_ZONES; k++)
		printf(" %12s", fc_bench_zone_names[k]);
	printf("\n");
}

static void print_row(const struct fc_bench_result *r)
{
	printf("%-20s %-8s %9.1f %9.1f %8d %7.1f", r->trace, r->controller, r->mean_dba, r->peak_dba,
	       r->audible_changes, r->seconds_over_limit);
	for (int k = 0; k < FC_BENCH_ZONES; k++)
		printf(" %12.1f", r->max_temp_c[k]);
	printf("\n");
}

static void print_json(const struct fc_bench_result *r, bool first)
{
	printf("%s{\"trace\":\"%s\",\"controller\":\"%s\",\"mean_dba\":%.2f,\"peak_dba\":%.2f,"
	       "\"audible_changes\":%d,\"seconds_over_limit\":%.1f,\"max_temp_c\":{",
	       first ? "" : ",", r->trace, r->controller, r->mean_dba, r->peak_dba, r->audible_changes,
	       r->seconds_over_limit);
	for (int k = 0; k < FC_BENCH_ZONES; k++)
		printf("%s\"%s\":%.1f", k ? "," : "", fc_bench_zone_names[k], r->max_temp_c[k]);
	printf("}}");
}

static int standard_traces(char **traces, int n)
{
	char pattern[4096];
	glob_t g;
	if (glob(src_path("fancontrol/traces/*.csv", pattern, sizeof pattern), 0, NULL, &g) != 0)
		return n;
	for (size_t i = 0; i < g.gl_pathc && n < MAX_TRACES; i++)
		traces[n++] = strdup(g.gl_pathv[i]);
	globfree(&g);
	return n;
}

int main(int argc, char **argv)
{
	argv[0] = (char *)"tb fanbench"; /* getopt's messages: the command as typed */
	static const struct option opts[] = {{"trace", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
					     {"config", required_argument, 0, 'c'}, {"plant", required_argument, 0, 'p'},
					     {"help", no_argument, 0, 'h'}, {0}};
	char *traces[MAX_TRACES], cfgbuf[4096];
	int ntraces = 0, rc = 0;
	bool json = false;
	const char *config = src_path("fancontrol/tb-fand.conf", cfgbuf, sizeof cfgbuf), *plant = NULL;
	char *extra[MAX_TRACES];
	int nextra = 0;
	for (int o; (o = getopt_long(argc, argv, "t:jc:p:h", opts, NULL)) != -1;) {
		if (o == 't' && nextra < MAX_TRACES)
			extra[nextra++] = optarg;
		else if (o == 'j')
			json = true;
		else if (o == 'c')
			config = optarg;
		else if (o == 'p')
			plant = optarg;
		else if (o == 'h')
			return usage(stdout), 0;
		else
			return usage(stderr), 2;
	}
	if (optind != argc) {
		fprintf(stderr, "tb fanbench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	static struct fc_config cfg;
	char err[512];
	if (fc_config_load(config, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "tb fanbench: %s\n", err);
		return 2;
	}
	ntraces = standard_traces(traces, 0);
	for (int i = 0; i < nextra && ntraces < MAX_TRACES; i++)
		traces[ntraces++] = strdup(extra[i]);
	if (json)
		printf("{\"results\":[");
	else
		print_table_head();
	bool first = true;
	static const enum fc_policy policies[] = {FC_POLICY_ACOUSTIC, FC_POLICY_LINEAR, FC_POLICY_PID};
	for (int i = 0; i < ntraces && rc == 0; i++)
		for (int k = 0; k < 3 && rc == 0; k++) {
			struct fc_bench_result r;
			if (fc_bench_run(&cfg, plant, traces[i], policies[k], &r, err, sizeof err) < 0) {
				fprintf(stderr, "tb fanbench: %s\n", err);
				rc = 1;
				break;
			}
			if (json)
				print_json(&r, first);
			else
				print_row(&r);
			first = false;
		}
	if (json)
		printf("]}\n");
	for (int i = 0; i < ntraces; i++)
		free(traces[i]);
	return rc;
}
