/* tb info: the GPUs as the driver finds them (PCI bus, KFD topology,
 * render nodes), without opening them.
 *
 *   tb info [--json]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "driver/tbdrv.h"

enum { MAX = 64 };

static void usage(FILE *f)
{
	fprintf(f, "usage: tb info [--json]\n"
		   "Lists the GPUs: PCI address, name, target, CUs, VRAM, BAR0 (large BAR or not),\n"
		   "PCIe link now and at most, NUMA node, KFD gpu_id and render node.\n");
}

/* What an owner should fix: a link that trained below what it can do, a
 * BAR that does not cover VRAM.  Returns how many lines it wrote to out. */
static int warnings(const struct tb_gpu_info *g, char out[][160], int max)
{
	int n = 0;
	if (n < max && (g->link_width < g->max_link_width || g->link_speed_mts < g->max_link_speed_mts))
		snprintf(out[n++], 160, "GPU %d (%s): PCIe link at x%u %.1f GT/s, capable of x%u %.1f GT/s (reseat the card or check the riser)",
			 g->index, g->pci, g->link_width, g->link_speed_mts / 1000.0, g->max_link_width,
			 g->max_link_speed_mts / 1000.0);
	if (n < max && !g->large_bar)
		snprintf(out[n++], 160, "GPU %d (%s): BAR0 is %llu MiB, smaller than VRAM: enable Resizable BAR and Above 4G decoding in the firmware",
			 g->index, g->pci, (unsigned long long)(g->bar0_bytes >> 20));
	return n;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else
			putchar(*s);
	putchar('"');
}

static void print_json(const struct tb_gpu_info *g, int n)
{
	printf("{\"gpus\":[");
	for (int i = 0; i < n; i++)
		printf("%s{\"index\":%d,\"pci\":\"%s\",\"name\":\"%s\",\"target\":\"%s\",\"compute_units\":%u,"
		       "\"vram_bytes\":%llu,\"bar0_bytes\":%llu,\"large_bar\":%s,"
		       "\"link\":{\"speed_mts\":%u,\"width\":%u,\"max_speed_mts\":%u,\"max_width\":%u},"
		       "\"numa_node\":%d,\"gpu_id\":%u,\"render_node\":\"/dev/dri/renderD%d\"}",
		       i ? "," : "", g[i].index, g[i].pci, g[i].name, g[i].target, g[i].cu_count,
		       (unsigned long long)g[i].vram_bytes, (unsigned long long)g[i].bar0_bytes,
		       g[i].large_bar ? "true" : "false", g[i].link_speed_mts, g[i].link_width, g[i].max_link_speed_mts,
		       g[i].max_link_width, g[i].numa_node, g[i].gpu_id, g[i].render_minor);
	printf("],\"warnings\":[");
	int first = 1;
	for (int i = 0; i < n; i++) {
		char w[4][160];
		int k = warnings(&g[i], w, 4);
		for (int j = 0; j < k; j++, first = 0) {
			if (!first)
				putchar(',');
			json_string(w[j]);
		}
	}
	printf("]}\n");
}

static void print_table(const struct tb_gpu_info *g, int n)
{
	printf("%-3s %-13s %-24s %-8s %4s %8s %-14s %-16s %4s %s\n", "GPU", "PCI", "name", "target", "CUs", "VRAM",
	       "BAR0", "link (max)", "NUMA", "render");
	for (int i = 0; i < n; i++) {
		char bar[32], link[32];
		snprintf(bar, sizeof bar, "%llu MiB%s", (unsigned long long)(g[i].bar0_bytes >> 20),
			 g[i].large_bar ? " large" : "");
		snprintf(link, sizeof link, "x%u %.1f (x%u %.1f)", g[i].link_width, g[i].link_speed_mts / 1000.0,
			 g[i].max_link_width, g[i].max_link_speed_mts / 1000.0);
		printf("%-3d %-13s %-24s %-8s %4u %5llu GiB %-14s %-16s %4d renderD%d%s\n", g[i].index, g[i].pci, g[i].name,
		       g[i].target, g[i].cu_count, (unsigned long long)(g[i].vram_bytes >> 30), bar, link, g[i].numa_node,
		       g[i].render_minor,
		       g[i].link_width < g[i].max_link_width || g[i].link_speed_mts < g[i].max_link_speed_mts
			       ? "  LINK DEGRADED"
			       : "");
	}
	int total = 0;
	for (int i = 0; i < n; i++) {
		char w[4][160];
		int k = warnings(&g[i], w, 4);
		for (int j = 0; j < k; j++)
			printf("warning: %s\n", w[j]);
		total += k;
	}
	printf("%d GPU%s, %s\n", n, n == 1 ? "" : "s", total ? "see the warnings above" : "no warnings");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int json = 0, c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	struct tb_gpu_info g[MAX];
	char err[256] = "";
	int n = tb_gpu_list(g, MAX, err, sizeof err);
	if (n < 0) {
		fprintf(stderr, "tb info: %s\n", err);
		return 1;
	}
	if (n > MAX)
		n = MAX;
	if (json)
		print_json(g, n);
	else
		print_table(g, n);
	return 0;
}
