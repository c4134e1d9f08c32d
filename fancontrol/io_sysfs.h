/* tb-fand's backend for the box: libsensors for readings, sysfs (hwmon
 * pwm, amdgpu fan_curve) or a command for the fans.  Private to
 * fancontrol/. */
#ifndef TB_FANCONTROL_IO_SYSFS_H
#define TB_FANCONTROL_IO_SYSFS_H

#include <stdbool.h>

#include "fancontrol/fan.h"

#define FC_PATH 512

struct sensors_chip_name;

struct fc_release_write {
	char path[FC_PATH + 64];
	char text[8];
};

struct fc_sysfs_io {
	const struct fc_config *cfg;
	bool sensors_up;
	const struct sensors_chip_name *chip[FC_MAX_SENSORS]; /* NULL: not found */
	int subfeat[FC_MAX_SENSORS];
	char fan_dir[FC_MAX_FANS][FC_PATH];		/* the fan chip's hwmon directory */
	bool manual[FC_MAX_FANS][FC_MAX_MEMBERS];	/* pwmN_enable = 1 written */
	struct fc_release_write release[FC_MAX_FANS][FC_MAX_MEMBERS];
	int nrelease[FC_MAX_FANS];
};

/* Find every sensor and fan of cfg (which must outlive s).  Sensors or
 * fans that are not there are logged and read as -ENODEV, which the
 * controller treats as missing (failsafe); -EIO if libsensors fails. */
int fc_sysfs_io_open(struct fc_sysfs_io *s, const struct fc_config *cfg, fc_log_fn log, void *log_ctx);
void fc_sysfs_io_close(struct fc_sysfs_io *s);
struct fc_io fc_sysfs_io(struct fc_sysfs_io *s);
/* Give every fan back to firmware with open/write/close only (for a crash
 * handler; commands are not run). */
void fc_sysfs_io_emergency_release(const struct fc_sysfs_io *s);

#endif
