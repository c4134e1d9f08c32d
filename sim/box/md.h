/* The box's md driver: one RAID0 array (md0) over the drives' namespaces,
 * as Linux's md gives it to mdadm (drivers/md/md.c ioctls and sysfs,
 * superblock 1.x read from the members, drivers/md/raid0.c mapping).  Its
 * block device is a real loop device over a file the daemon serves by FUSE
 * (STATE/md/md0), whose reads and writes go through the RAID0 mapping to
 * the members' loop devices.  Private to sim/box. */
#ifndef TB_SIM_BOX_MD_H
#define TB_SIM_BOX_MD_H

#include <stddef.h>
#include <stdint.h>

#include "sim/box/box.h"

struct conn;

/* Serve md0 (FUSE mount, its loop device, /dev/md0, /proc/mdstat); after drives_build. */
int md_build(struct sim_box *b, char *err, size_t errlen);
/* Stop the array, detach the loop device, unmount; before drives_release. */
void md_release(struct sim_box *b);
/* The md ioctls on a block device "/dev/block/MAJ:MIN" (the preload sends them). */
int md_open(struct conn *c, const char *path);
long md_ioctl(struct conn *c, unsigned long req, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out);
/* udev's watch of md0: a write not flushed since is probed (the box's tick). */
void md_udev_tick(struct sim_box *b);
/* A drive dropped off the bus: a running array with it as a member is broken. */
void md_drive_gone(struct sim_box *b, int drive);
size_t md_status_json(struct sim_box *b, char *out, size_t len);
size_t md_status_text(struct sim_box *b, char *out, size_t len);

#endif
