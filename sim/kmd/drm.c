/* The simulated amdgpu DRM nodes (/dev/dri/renderD*, /dev/dri/card*). */
#include <errno.h>
#include <string.h>

#include "sim/box/conn.h"

int drm_open(struct conn *c)
{
	(void)c;
	return 0;
}

void drm_release(struct conn *c)
{
	(void)c;
}

long drm_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	(void)c;
	(void)request;
	(void)arg;
	(void)data;
	(void)size;
	(void)copy_out;
	return -EINVAL;
}

int drm_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset)
{
	(void)c;
	(void)offset;
	(void)length;
	(void)fd;
	(void)file_offset;
	return -EINVAL;
}
