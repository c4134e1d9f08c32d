/* tb diag's reports: the JSON document (schema tb.diag/1, diag/schema.json),
 * the table people read, and the exit code both imply. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag/diag.h"


int diag_report_write(const json_t *report, const char *path, char *err, size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	char *s = json_dumps(report, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	size_t n = s ? strlen(s) : 0;
	ssize_t w = s ? write(fd, s, n) : -1;
	int rc = w == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0 ? 0 : -EIO;
	free(s);
	if (close(fd) < 0 || rc < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

json_t *diag_report_read(const char *path, char *err, size_t errlen)
{
	json_t *r = diag_read_json(path, DIAG_FILE_MAX, "a report", err, errlen);
	if (!r) {
		if (!err[0])
			snprintf(err, errlen, "no report %s", path);
		return NULL;
	}
	if (!json_is_object(r) || strcmp(json_string_value(json_object_get(r, "schema")) ?: "", DIAG_SCHEMA) != 0 ||
	    !json_is_array(json_object_get(r, "results"))) {
		snprintf(err, errlen, "%s: not a %s report", path, DIAG_SCHEMA);
		json_decref(r);
		return NULL;
	}
	return r;
}

/* the exit class of one result; classes rank crash > hang > hardware >
 * inconclusive > ok */
static int result_exit(const json_t *res)
{
	enum diag_status st = diag_result_status(res);
	const char *action = json_string_value(json_object_get(res, "action")) ?: "";
	switch (st) {
	case DIAG_SYSTEM_CRASH_SUSPECTED:
		return DIAG_EXIT_CRASHED;
	case DIAG_HANG:
		return DIAG_EXIT_HANG;
	case DIAG_FAIL:
		return !strcmp(action, "UPDATE_FW_DRIVER") ? DIAG_EXIT_HANG : DIAG_EXIT_HW;
	case DIAG_ENV_NOT_READY:
		return DIAG_EXIT_INCONCLUSIVE;
	default:
		return DIAG_EXIT_OK;
	}
}

static int exit_rank(int code)
{
	switch (code) {
	case DIAG_EXIT_CRASHED:
		return 4;
	case DIAG_EXIT_HANG:
		return 3;
	case DIAG_EXIT_HW:
		return 2;
	case DIAG_EXIT_INCONCLUSIVE:
		return 1;
	default:
		return 0;
	}
}

int diag_report_exit_code(const json_t *report)
{
	int worst = DIAG_EXIT_OK;
	size_t i;
	json_t *res;
	json_array_foreach(json_object_get(report, "results"), i, res) {
		int c = result_exit(res);
		if (exit_rank(c) > exit_rank(worst))
			worst = c;
	}
	return worst;
}

void diag_report_table(const json_t *report, FILE *out)
{
	json_t *run = json_object_get(report, "run");
	fprintf(out, "tb diag run %s: level %lld, seed %lld\n", json_string_value(json_object_get(run, "id")) ?: "?",
		(long long)json_integer_value(json_object_get(run, "level")),
		(long long)json_integer_value(json_object_get(run, "seed")));
	fprintf(out, "%-4s %-14s %-24s %-30s %s\n", "GPU", "TEST", "STATUS", "REASON", "DETAIL");
	size_t i;
	json_t *res;
	json_array_foreach(json_object_get(report, "results"), i, res) {
		json_int_t gpu = json_integer_value(json_object_get(res, "gpu"));
		char g[8];
		snprintf(g, sizeof g, "%lld", (long long)gpu);
		fprintf(out, "%-4s %-14s %-24s %-30s %s\n", gpu < 0 ? "-" : g,
			json_string_value(json_object_get(res, "test")) ?: "?",
			json_string_value(json_object_get(res, "status")) ?: "?",
			json_string_value(json_object_get(res, "reason")) ?: "?",
			json_string_value(json_object_get(res, "detail")) ?: "");
	}
	json_t *crash = json_object_get(report, "previous_crash");
	if (crash) {
		size_t k;
		json_t *s;
		json_array_foreach(json_object_get(crash, "steps"), k, s)
			fprintf(out, "run %s never finished GPU %lld %s, step '%s' (seed %lld): SYSTEM_CRASH_SUSPECTED\n",
				json_string_value(json_object_get(crash, "run")) ?: "?",
				(long long)json_integer_value(json_object_get(s, "gpu")),
				json_string_value(json_object_get(s, "test")) ?: "?",
				json_string_value(json_object_get(s, "step")) ?: "?",
				(long long)json_integer_value(json_object_get(s, "seed")));
	}
	int code = diag_report_exit_code(report);
	static const char *const what[] = { "all passed", "hardware failure", "hang, reset or driver/firmware fault",
					    "inconclusive", "usage or configuration error", "previous run crashed" };
	fprintf(out, "result: exit %d (%s)\n", code, what[code]);
}
