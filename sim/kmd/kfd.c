/* The simulated KFD (/dev/kfd). */
#include <errno.h>
#include <linux/kfd_ioctl.h>
#include <string.h>

#include "sim/box/conn.h"

int kfd_open(struct conn *c)
{
	(void)c;
	return 0;
}

void kfd_release(struct conn *c)
{
	(void)c;
}

long kfd_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	(void)c;
	(void)arg;
	if (request == AMDKFD_IOC_GET_VERSION && size == sizeof(struct kfd_ioctl_get_version_args)) {
		struct kfd_ioctl_get_version_args *a = data;
		a->major_version = 1;
		a->minor_version = 14;
		*copy_out = size;
		return 0;
	}
	return -EINVAL;
}

int kfd_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset)
{
	(void)c;
	(void)offset;
	(void)length;
	(void)fd;
	(void)file_offset;
	return -EINVAL;
}
