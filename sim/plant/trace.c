/* Heat traces: the CSV files that drive the plant (a row's heat inputs hold
 * from its time until the next row's).  Every row is validated on load so
 * that replaying never meets a bad value. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/plant/internal.h"

static const char header[] = "t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c";

#define COLUMNS 10
#define MAX_LINE 4096
/* 64 MiB holds a day at 0.1 s; it also bounds the rows' memory (at most
 * 4 Mi rows of 80 bytes, even with the shortest rows). */
#define MAX_FILE (64u << 20)
/* 16 Mi rows (a month at 0.2 s) bounds the memory a trace may take. */
#define MAX_ROWS (1u << 24)
/* Plausible bounds: the plant clamps power to each part's cap anyway. */
#define MAX_POWER_W 100000.0

struct row {
	double t;
	struct plant_inputs in;
};

struct plant_trace {
	size_t n, cap;
	struct row *rows;
};

struct reader {
	const char *path;
	char *err;
	size_t errlen;
	int line;
};

static int fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct reader *r, const char *fmt, ...)
{
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (r->err && r->errlen)
		snprintf(r->err, r->errlen, "%s:%d: %s", r->path, r->line, why);
	return -EINVAL;
}

/* The column names, taken from the header, for error messages. */
static const char *column_name(int i, char *buf, size_t len)
{
	const char *s = header;
	for (int k = 0; k < i; k++)
		s = strchr(s, ',') + 1;
	size_t n = strcspn(s, ",");
	snprintf(buf, len, "%.*s", (int)n, s);
	return buf;
}

/* Split a row into exactly COLUMNS numbers. */
static int parse_fields(struct reader *r, char *s, double v[COLUMNS])
{
	char name[16];
	for (int i = 0; i < COLUMNS; i++) {
		char *comma = strchr(s, ',');
		if (i < COLUMNS - 1 && !comma)
			return fail(r, "%d column%s, expected %d", i + 1, i ? "s" : "", COLUMNS);
		if (i == COLUMNS - 1 && comma)
			return fail(r, "more than %d columns", COLUMNS);
		if (comma)
			*comma = '\0';
		if (!plant_parse_number(s, &v[i]))
			return fail(r, "%s: not a number: '%s'", column_name(i, name, sizeof name), s);
		s = comma ? comma + 1 : s;
	}
	return 0;
}

static int check_row(struct reader *r, const struct plant_trace *t, const double v[COLUMNS])
{
	char name[16];
	if (t->n == 0 && v[0] != 0)
		return fail(r, "the first row must be at t_s = 0, not %g", v[0]);
	if (t->n > 0 && !(v[0] > t->rows[t->n - 1].t))
		return fail(r, "t_s %g does not increase (previous row: %g)", v[0], t->rows[t->n - 1].t);
	for (int i = 1; i < COLUMNS - 1; i++)
		if (v[i] < 0 || v[i] > MAX_POWER_W)
			return fail(r, "%s = %g is out of range [0, %g]", column_name(i, name, sizeof name), v[i],
				    MAX_POWER_W);
	if (v[COLUMNS - 1] < -40 || v[COLUMNS - 1] > 80)
		return fail(r, "ambient_c = %g is out of range [-40, 80]", v[COLUMNS - 1]);
	return 0;
}

static int append(struct reader *r, struct plant_trace *t, const double v[COLUMNS])
{
	if (t->n == t->cap) {
		if (t->cap >= MAX_ROWS)
			return fail(r, "more than %u rows", MAX_ROWS);
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct row *rows = realloc(t->rows, cap * sizeof *rows);
		if (!rows)
			return fail(r, "out of memory");
		t->rows = rows;
		t->cap = cap;
	}
	struct row *row = &t->rows[t->n++];
	row->t = v[0];
	for (int i = 0; i < PLANT_GPUS; i++)
		row->in.gpu_w[i] = v[1 + i];
	row->in.cpu_w = v[7];
	row->in.nvme_w = v[8];
	row->in.ambient_c = v[9];
	return 0;
}

static int parse_line(struct reader *r, struct plant_trace *t, char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '\r')
		s[n - 1] = '\0';
	if (r->line == 1)
		return strcmp(s, header) ? fail(r, "header must be exactly '%s'", header) : 0;
	double v[COLUMNS];
	int rc = parse_fields(r, s, v);
	if (!rc)
		rc = check_row(r, t, v);
	return rc ? rc : append(r, t, v);
}

static int read_trace(struct reader *r, struct tb_lines *in, struct plant_trace *t)
{
	char *s;
	int rc = 0, got;
	while (!rc && (got = tb_lines_next(in, &s)) > 0) {
		r->line = in->line;
		rc = parse_line(r, t, s);
	}
	if (rc)
		return rc;
	r->line = in->line;
	if (got < 0)
		return fail(r, "%s", in->why);
	r->line++; /* where the missing content should have been */
	if (r->line == 1)
		return fail(r, "empty file: no header");
	if (t->n == 0)
		return fail(r, "no rows after the header");
	return 0;
}

struct plant_trace *plant_trace_load(const char *path, char *err, size_t errlen)
{
	struct reader r = {.path = path ? path : "(null)", .err = err, .errlen = errlen};
	struct tb_lines in;
	if (!path) {
		fail(&r, "cannot open: no path");
		return NULL;
	}
	if (tb_lines_open(&in, path, MAX_FILE, MAX_LINE) < 0) {
		fail(&r, "%s", in.why);
		return NULL;
	}
	struct plant_trace *t = calloc(1, sizeof *t);
	int rc = t ? read_trace(&r, &in, t) : fail(&r, "out of memory");
	tb_lines_close(&in);
	if (rc) {
		plant_trace_free(t);
		return NULL;
	}
	return t;
}

void plant_trace_free(struct plant_trace *t)
{
	if (t) {
		free(t->rows);
		free(t);
	}
}

double plant_trace_duration(const struct plant_trace *t)
{
	return t && t->n ? t->rows[t->n - 1].t : 0;
}

/* The index of the last row at or before t_s (binary search; rows are
 * sorted; before the first row and NaN give row 0). */
static size_t row_at(const struct plant_trace *t, double t_s)
{
	size_t lo = 0, hi = t->n; /* rows[lo].t <= t_s < rows[hi].t */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->rows[mid].t <= t_s)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void plant_trace_at(const struct plant_trace *t, double t_s, struct plant_inputs *out)
{
	if (t && t->n && out)
		*out = t->rows[row_at(t, t_s)].in;
}

/* Split the step at row boundaries so that each row's heat applies for
 * exactly its own interval, whatever dt the caller replays with. */
void plant_step_trace(struct plant *p, const struct plant_trace *t, double dt)
{
	if (!p || !t || !t->n || !(dt > 0) || !isfinite(dt))
		return;
	double now = plant_time(p), end = now + dt;
	while (now < end) {
		size_t i = row_at(t, now);
		double until = i + 1 < t->n && t->rows[i + 1].t < end ? t->rows[i + 1].t : end;
		if (!(until > now)) /* too close to split in double precision */
			until = end;
		plant_step(p, until - now, &t->rows[i].in);
		double next = plant_time(p);
		if (!(next > now)) /* time no longer advances: stop, never spin */
			break;
		now = next;
	}
}
