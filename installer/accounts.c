/* Users, groups and files of the target root (see accounts.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "installer/accounts.h"

/* /etc/passwd and /etc/group of a real system are far below this */
#define ACCOUNTS_FILE_MAX (4u << 20)
#define ACCOUNTS_LINE_MAX 4096
#define PASSWD_FIELDS 7
#define GROUP_FIELDS 4

bool account_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > ACCOUNT_NAME_MAX || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

bool next_line(const char **p, char *out, size_t cap, bool *truncated)
{
	if (!**p)
		return false;
	size_t n = strcspn(*p, "\n");
	*truncated = n >= cap;
	size_t keep = *truncated ? cap - 1 : n;
	memcpy(out, *p, keep);
	out[keep] = '\0';
	*p += n + ((*p)[n] == '\n');
	return true;
}

/* Split line at ':' into exactly want fields (in place). */
static bool split_fields(char *line, char **f, int want)
{
	int n = 0;
	for (char *p = line;;) {
		if (n == want)
			return false;
		f[n++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	return n == want;
}

static bool parse_id(const char *v, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (!v[0] || v[0] < '0' || v[0] > '9' || *end || errno || x > UINT_MAX - 1)
		return false;
	*out = x;
	return true;
}

/* The fields of the line of file whose first field is name. */
static int find_entry(const struct setup *s, const char *file, const char *name, char *line, size_t cap,
		      char **f, int nfields)
{
	char *text;
	size_t len;
	int rc = setup_file_read(s, file, ACCOUNTS_FILE_MAX, &text, &len);
	if (rc < 0)
		return rc;
	const char *p = text;
	bool cut;
	rc = -ENOENT;
	while (rc == -ENOENT && next_line(&p, line, cap, &cut)) {
		size_t n = strlen(name);
		if (strncmp(line, name, n) || line[n] != ':')
			continue;
		rc = !cut && split_fields(line, f, nfields) ? 0 : -EINVAL;
	}
	free(text);
	return rc;
}

int account_user(const struct setup *s, const char *name, struct account *a)
{
	char line[ACCOUNTS_LINE_MAX], *f[PASSWD_FIELDS];
	int rc = find_entry(s, "/etc/passwd", name, line, sizeof line, f, PASSWD_FIELDS);
	if (rc < 0)
		return rc;
	unsigned long uid, gid;
	if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid) || f[5][0] != '/' || strlen(f[5]) >= sizeof a->home)
		return -EINVAL;
	snprintf(a->name, sizeof a->name, "%s", name);
	a->uid = (uid_t)uid;
	a->gid = (gid_t)gid;
	snprintf(a->home, sizeof a->home, "%s", f[5]);
	return 0;
}

int account_group(const struct setup *s, const char *group, const char *user, gid_t *gid, bool *member)
{
	char line[ACCOUNTS_LINE_MAX], *f[GROUP_FIELDS];
	int rc = find_entry(s, "/etc/group", group, line, sizeof line, f, GROUP_FIELDS);
	if (rc < 0)
		return rc;
	unsigned long id;
	if (!parse_id(f[2], &id))
		return -EINVAL;
	*gid = (gid_t)id;
	*member = false;
	for (char *m = f[3]; user && *m && !*member;) {
		size_t n = strcspn(m, ",");
		*member = n == strlen(user) && !strncmp(m, user, n);
		m += n + (m[n] == ',');
	}
	return 0;
}

int host_file_read(const char *path, size_t max, char **content, size_t *len)
{
	/* the running system is the root "" */
	static const struct setup host = { .root = "", .live = true };
	return setup_file_read(&host, path, max, content, len);
}

int setup_prefix(char *out, size_t len)
{
	/* PREFIX/bin/tb, the front end installed with this program */
	char tb[PATH_MAX];
	int rc = setup_tb_command(tb, sizeof tb);
	if (rc < 0)
		return rc;
	size_t n = strlen(tb), tail = strlen("/bin/tb");
	if (n <= tail || strcmp(tb + n - tail, "/bin/tb") || n - tail >= len)
		return -ENOENT;
	snprintf(out, len, "%.*s", (int)(n - tail), tb);
	return 0;
}

int root_mkdir(const struct setup *s, const char *dir, mode_t mode)
{
	char full[PATH_MAX];
	if (setup_path(s, dir, full, sizeof full) < 0)
		return -ENAMETOOLONG;
	size_t skip = strlen(s->root);
	for (char *p = full + skip + 1;; p++) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		struct stat st;
		if (mkdir(full, slash ? 0755 : mode) < 0 && errno != EEXIST)
			return -errno;
		/* lstat: a symlink planted where a directory belongs is not followed */
		if (lstat(full, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (!slash)
			return 0;
		*slash = '/';
		p = slash;
	}
}
