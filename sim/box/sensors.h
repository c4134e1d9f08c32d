/* The box's sensors and fans: the thermal plant (sim/plant) behind hwmon
 * and amdgpu files, and the attributes processes write (pwm, fan curves,
 * power caps).  Private to sim/box. */
#ifndef TB_SIM_BOX_SENSORS_H
#define TB_SIM_BOX_SENSORS_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/box/box.h"

/* Build the plant and the sensor files (after sysfs_build). */
int sensors_build(struct sim_box *b, const char *plant_config, char *err, size_t errlen);
/* Advance the plant by dt seconds of box time and refresh the files. */
void sensors_tick(struct sim_box *b, double dt);
/* Fault injection: stall a fan by name ("gpu0".."gpu5", "chassis0"...),
 * or end a stall; and runaway heat on a GPU (its cooling lost). */
int sensors_fan_stall(struct sim_box *b, const char *fan, int stalled);
void sensors_runaway(struct sim_box *b, int gpu, bool on);
/* "sensor-freeze": the GPU's temperatures stop updating; "sensor-loss":
 * its junction sensor's file goes; "clear": both end. */
int sensors_sensor_fault(struct sim_box *b, int gpu, const char *kind);
void sensors_status_json(struct sim_box *b, char *out, size_t len);

/* Writable attributes: a process's write to one of these files reaches
 * the daemon (through the preloaded library) and is checked and applied
 * as the kernel's store function would. */
struct sim_attr;
typedef int (*sim_attr_store)(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len);
struct sim_attr {
	char rel[320];			/* under STATE/sys */
	sim_attr_store store;
	void *obj;
	int arg;
};
int attr_register(struct sim_box *b, const char *dir, const char *name, sim_attr_store store, void *obj, int arg);
/* What a write-open of /sys/PATH is: 0 and *out for a writable attribute,
 * -EACCES for one of the box's read-only files, -ENOENT for anything else
 * (the host's, which the process opens itself). */
int attr_lookup(struct sim_box *b, const char *sys_path, struct sim_attr **out);
/* Apply one write; returns the bytes taken or -errno. */
long attr_write(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len);

#endif
