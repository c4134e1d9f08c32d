/* <linux/kfd_ioctl.h> includes <drm/drm.h>, the kernel's name for it; on
 * Debian the header ships with libdrm-dev as <drm.h> in /usr/include/libdrm
 * (on the include path through pkg-config libdrm). */
#include <drm.h>
