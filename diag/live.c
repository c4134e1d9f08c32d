/* tb diag's live table on a terminal: a row a GPU, a column a test, each
 * cell what the test is doing (its step or progress) or how it ended;
 * redrawn in place (ANSI cursor-up) at most ten times a second. */
#include <stdlib.h>
#include <string.h>

#include "diag/diag.h"

#define CELL 14
#define REDRAW_MS 100

struct diag_live {
	FILE *out;
	int ngpus, ntests, drawn;
	int gpu[DIAG_MAX_GPUS];
	const char *test[DIAG_MAX_TESTS];
	char cell[DIAG_MAX_GPUS][DIAG_MAX_TESTS][CELL + 1];
	uint64_t last_ms;
};

struct diag_live *diag_live_start(FILE *out, uint32_t gpus, const char *const *tests, int ntests)
{
	struct diag_live *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->out = out;
	for (int g = 0; g < DIAG_MAX_GPUS; g++)
		if (gpus & (1u << g))
			l->gpu[l->ngpus++] = g;
	for (int t = 0; t < ntests && t < DIAG_MAX_TESTS; t++)
		l->test[l->ntests++] = tests[t];
	return l;
}

static void draw(struct diag_live *l)
{
	if (l->drawn)
		fprintf(l->out, "\033[%dA", l->drawn);
	fprintf(l->out, "\033[KGPU ");
	for (int t = 0; t < l->ntests; t++)
		fprintf(l->out, " %-*.*s", CELL, CELL, l->test[t]);
	fprintf(l->out, "\n");
	for (int i = 0; i < l->ngpus; i++) {
		fprintf(l->out, "\033[K%-4d", l->gpu[i]);
		for (int t = 0; t < l->ntests; t++)
			fprintf(l->out, " %-*s", CELL, l->cell[i][t][0] ? l->cell[i][t] : ".");
		fprintf(l->out, "\n");
	}
	fflush(l->out);
	l->drawn = l->ngpus + 1;
	l->last_ms = diag_now_ms();
}

void diag_live_set(struct diag_live *l, int gpu, const char *test, const char *text, bool final)
{
	if (!l)
		return;
	for (int i = 0; i < l->ngpus; i++)
		for (int t = 0; t < l->ntests; t++)
			if (l->gpu[i] == gpu && !strcmp(l->test[t], test))
				snprintf(l->cell[i][t], sizeof l->cell[i][t], "%s", text);
	if (final || diag_now_ms() - l->last_ms >= REDRAW_MS)
		draw(l);
}

void diag_live_end(struct diag_live *l)
{
	if (!l)
		return;
	draw(l);
	free(l);
}
