#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/box/state.h"

int sim_state_default(char *out, size_t len)
{
	const char *env = getenv("TB_SIM_STATE");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/tb-sim");
	else if (xdg && *xdg)
		n = snprintf(out, len, "%s/tb-sim", xdg);
	else
		n = snprintf(out, len, "/tmp/tb-sim-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int open_lock(const char *dir, int flags)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, SIM_LOCK_NAME) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, flags | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/* Record locks (not flock): F_GETLK names the holder without taking the lock,
 * so asking never keeps a daemon from starting. */
int sim_state_holder(const char *dir)
{
	int fd = open_lock(dir, O_RDONLY);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	/* a holder in another pid namespace shows as pid 0 */
	int rc = fcntl(fd, F_GETLK, &l) < 0 ? -errno : l.l_type == F_UNLCK ? 0 : l.l_pid > 0 ? l.l_pid : -EBUSY;
	close(fd);
	return rc;
}

int sim_state_lock(const char *dir, int *holder)
{
	int fd = open_lock(dir, O_CREAT | O_RDWR);
	if (fd < 0)
		return fd;
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &l) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (e != EACCES && e != EAGAIN)
		return -e;
	*holder = sim_state_holder(dir);
	return -EBUSY;
}

int sim_parse_int(const char *s, long lo, long hi, int *out)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int sim_parse_drive_order(const char *s, int order[SIM_BOX_DRIVES])
{
	bool seen[SIM_BOX_DRIVES] = { false };
	for (int i = 0; i < SIM_BOX_DRIVES; i++) {
		if (s[0] < '0' || s[0] > '0' + SIM_BOX_DRIVES - 1 || seen[s[0] - '0'])
			return -EINVAL;
		if (s[1] != (i == SIM_BOX_DRIVES - 1 ? '\0' : ','))
			return -EINVAL;
		order[i] = s[0] - '0';
		seen[order[i]] = true;
		s += 2;
	}
	return 0;
}

int sim_parse_drive_size(const char *s, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	static const char units[] = "KMGT";
	const char *u = *end ? strchr(units, *end) : NULL;
	int shift = u ? 10 * (int)(u - units + 1) : 0;
	if (errno || (*end && (!u || end[1])) || v > (SIM_DRIVE_MAX_BYTES >> shift))
		return -EINVAL;
	uint64_t bytes = (uint64_t)v << shift;
	if (bytes < SIM_DRIVE_MIN_BYTES || bytes % (1u << 20))
		return -EINVAL;
	*out = bytes;
	return 0;
}
