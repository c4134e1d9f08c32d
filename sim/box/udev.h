/* What udev does for the box's block devices' contents: the
 * /dev/disk/by-uuid and /dev/disk/by-label links of the filesystems on
 * them (60-persistent-storage.rules for the drives, 63-md-raid-arrays.rules
 * for md0), made again when a device's contents change.  Private to
 * sim/box. */
#ifndef TB_SIM_BOX_UDEV_H
#define TB_SIM_BOX_UDEV_H

#include "sim/box/box.h"

/* The links of a previous run go (the box's /dev starts empty, as
 * devtmpfs does); the directories are made. */
int udev_start(struct sim_box *b);
/* Probe the device kname (nvme0n1, md0) with libblkid through fd (its
 * blocks, read from offset 0) and set its links to what it holds now: a
 * "change" event.  fd < 0: the device is gone or stopped, its links go. */
void udev_change(struct sim_box *b, const char *kname, int fd);

#endif
