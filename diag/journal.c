/* tb diag's crash journal: STATE/journal, one JSON object a line, each
 * synced to the disk before the step it names starts.  A run writes
 * {"ev":"run"}, then {"ev":"begin"} and {"ev":"end"} around every step,
 * then {"ev":"close"}.  A run that never closed, because the kernel
 * panicked or the machine lost power, leaves its last begun steps without
 * an end: the next run and `tb diag report` name them.  The journal holds
 * the last run only; the reports of all of them are kept in STATE/runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diag/diag.h"


struct diag_journal {
	int fd;
	char run[64];
};

static int append(struct diag_journal *j, json_t *rec)
{
	json_object_set_new(rec, "run", json_string(j->run));
	json_object_set_new(rec, "time", json_integer((json_int_t)time(NULL)));
	char *s = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	s[n] = '\n';	/* json_dumps leaves room: the NUL becomes the newline */
	ssize_t w = write(j->fd, s, n + 1);
	free(s);
	if (w != (ssize_t)(n + 1))
		return w < 0 ? -errno : -EIO;
	return fdatasync(j->fd) < 0 ? -errno : 0;
}

int diag_journal_open(const char *state_dir, const char *run_id, struct diag_journal **out, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/journal", state_dir);
	struct diag_journal *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	snprintf(j->run, sizeof j->run, "%s", run_id);
	j->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->fd < 0) {
		int e = -errno;
		snprintf(err, errlen, "cannot write the journal %s: %s", path, strerror(errno));
		free(j);
		return e;
	}
	int rc = append(j, json_pack("{s:s}", "ev", "run"));
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the journal %s: %s", path, strerror(-rc));
		close(j->fd);
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

int diag_journal_begin(struct diag_journal *j, int gpu, const char *test, const char *step, uint64_t seed)
{
	return append(j, json_pack("{s:s, s:i, s:s, s:s, s:I}", "ev", "begin", "gpu", gpu, "test", test, "step", step,
				   "seed", (json_int_t)seed));
}

int diag_journal_end(struct diag_journal *j, int gpu, const char *test, const char *status)
{
	return append(j, json_pack("{s:s, s:i, s:s, s:s}", "ev", "end", "gpu", gpu, "test", test, "status", status));
}

int diag_journal_close(struct diag_journal *j, int exit_code)
{
	if (!j)
		return 0;
	int rc = append(j, json_pack("{s:s, s:i}", "ev", "close", "exit", exit_code));
	close(j->fd);
	free(j);
	return rc;
}

static char *read_journal(const char *state_dir, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/journal", state_dir);
	return diag_read_file(path, DIAG_FILE_MAX, "a journal", err, errlen);
}

json_t *diag_journal_unfinished(const char *state_dir, char *err, size_t errlen)
{
	err[0] = '\0';
	char *text = read_journal(state_dir, err, errlen);
	if (!text)
		return NULL;
	json_t *open_steps = json_object();	/* "gpu/test" -> the begin record */
	const char *run = NULL;
	json_t *run_rec = NULL;
	bool closed = false;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* a line cut short by the crash is not a record */
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "ev"));
		if (!ev) {
			json_decref(rec);
			continue;
		}
		char key[128];
		snprintf(key, sizeof key, "%lld/%s", (long long)json_integer_value(json_object_get(rec, "gpu")),
			 json_string_value(json_object_get(rec, "test")) ? json_string_value(json_object_get(rec, "test")) : "");
		if (!strcmp(ev, "run")) {
			json_decref(run_rec);
			run_rec = json_incref(rec);
			run = json_string_value(json_object_get(rec, "run"));
		} else if (!strcmp(ev, "begin")) {
			json_object_set(open_steps, key, rec);
		} else if (!strcmp(ev, "end")) {
			json_object_del(open_steps, key);
		} else if (!strcmp(ev, "close")) {
			closed = true;
		}
		json_decref(rec);
	}
	free(text);
	json_t *out = NULL;
	if (run && !closed) {
		json_t *steps = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(open_steps, k, v) {
			json_t *s = json_deep_copy(v);
			json_object_del(s, "ev");
			json_array_append_new(steps, s);
		}
		out = json_pack("{s:s, s:o}", "run", run, "steps", steps);
	}
	json_decref(run_rec);
	json_decref(open_steps);
	return out;
}
