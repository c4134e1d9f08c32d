/* Users, groups and host files of the target root, for the services and
 * access steps (private to installer/).  The root's /etc/passwd and
 * /etc/group are read directly: getpwnam() would answer for the running
 * system, not for an image under --root. */
#ifndef TB_SETUP_ACCOUNTS_H
#define TB_SETUP_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "installer/setup.h"

#define ACCOUNT_NAME_MAX 32

struct account {
	char name[ACCOUNT_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	char home[256];
};

/* A login or group name as useradd and systemd-sysusers take it:
 * [a-z_][a-z0-9_-]*, at most 32 characters. */
bool account_name_valid(const char *name);
/* name's line in ROOT/etc/passwd: 0, -ENOENT (no such user or no file),
 * -EINVAL (a malformed line for it). */
int account_user(const struct setup *s, const char *name, struct account *a);
/* group's line in ROOT/etc/group: 0 with its gid and whether user is a
 * listed member (user may be NULL); -ENOENT when there is no such group. */
int account_group(const struct setup *s, const char *group, const char *user, gid_t *gid, bool *member);

/* A file of the running system (not under the root: a USB stick, the
 * stack's own files): a regular file of at most max bytes, NUL-terminated.
 * 0, or negative errno (-EINVAL: not a regular text file, -EFBIG). */
int host_file_read(const char *path, size_t max, char **content, size_t *len);
/* The directory dir under the root, made with mode when missing (its
 * missing parents 0755); a symlink or non-directory in its place is -ENOTDIR. */
int root_mkdir(const struct setup *s, const char *dir, mode_t mode);
/* The stack's install prefix, found from this program (PREFIX/libexec/tb/
 * tb-setup; the build tree's build/ is one too). */
int setup_prefix(char *out, size_t len);
/* The next line of text at *p (ending at '\n' or the end), advancing *p;
 * false at the end.  The line is copied, truncated to cap-1 bytes, into
 * out; *truncated says whether it was. */
bool next_line(const char **p, char *out, size_t cap, bool *truncated);

#endif
