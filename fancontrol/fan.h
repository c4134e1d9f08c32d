/* libtbfan: the acoustic fan controller (the core of tb-fand).
 *
 * The core knows nothing of files: an IO backend (struct fc_io) reads the
 * sensors and tachometers and drives the fans (libsensors + sysfs on the
 * box, fancontrol/io_sysfs.c), so the same control runs against any
 * backend, at any pace: time is what the caller passes to fc_tick.
 *
 * Each tick (fc_tick):
 *   1. read every sensor and tachometer; a reading that fails, is out of
 *      its plausible range, jumps implausibly or stays frozen while it
 *      should move marks its zones faulty; a fan that reads 0 rpm while
 *      driven above its start duty is stalled;
 *   2. each zone (one temperature sensor kept under limit - margin) asks
 *      for a cooling demand 0..1: feed-forward from its device's power
 *      (power rises before temperature does) plus PID on the temperature's
 *      distance to the set point;
 *   3. the acoustic planner chooses the fan speeds that satisfy every
 *      zone's demand at the least total dBA (fan laws: L = rated +
 *      50 log10(rpm / rated rpm), levels summed as energies);
 *   4. hysteresis and slew-rate limits keep the changes inaudible, except
 *      when a zone nears its limit;
 *   5. fans of faulty zones and stalled fans go to the failsafe duty.
 * On exit every fan is released to firmware automatic control.
 *
 * Errors are negative errno values; nothing here exits. */
#ifndef TB_FANCONTROL_FAN_H
#define TB_FANCONTROL_FAN_H

#include <stdbool.h>
#include <stddef.h>

#define FC_MAX_SENSORS 64
#define FC_MAX_FANS 16
#define FC_MAX_ZONES 32
#define FC_MAX_MEMBERS 8 /* tachometers / pwm channels of one fan group */
#define FC_MAX_ZONE_FANS 4
#define FC_NAME 64
#define FC_CMD 256

/* ---- configuration -------------------------------------------------------------------------- */

enum fc_sensor_kind { FC_SENSOR_TEMP, FC_SENSOR_POWER, FC_SENSOR_FAN };
enum fc_actuator { FC_ACT_HWMON, FC_ACT_AMDGPU, FC_ACT_COMMAND };

/* A sensor by stable name: "CHIP/LABEL", CHIP as libsensors names it
 * (prefix-bus-address, e.g. amdgpu-pci-0300), LABEL its feature's label
 * (junction, PPT, fan1, Tctl...). */
struct fc_sensor_cfg {
	char name[2 * FC_NAME];
	char chip[FC_NAME], label[FC_NAME];
	enum fc_sensor_kind kind;
};

/* A fan group: one speed for all its members (8 chassis fans, or one GPU's
 * fans).  The acoustic model of one member: rpm linear in pwm from min_rpm
 * at stop_pwm to max_rpm at 255 (what `tb fan calibrate` measures), sound
 * rated_dba at rated_rpm at 1 m. */
struct fc_fan_cfg {
	char name[FC_NAME];
	enum fc_actuator act;
	char chip[FC_NAME];			/* hwmon / amdgpu: the chip */
	int channels[FC_MAX_MEMBERS];		/* hwmon: pwmN numbers */
	int nmembers;
	int tach[FC_MAX_MEMBERS];		/* sensors (FC_SENSOR_FAN), -1: none */
	char set_cmd[FC_CMD], release_cmd[FC_CMD]; /* command: %d is the duty in percent */
	double min_rpm, max_rpm, start_pwm, stop_pwm, rated_rpm, rated_dba;
	double min_pwm;				/* lowest duty the controller commands */
	bool shared;				/* chosen by the planner's search (chassis) */
};

struct fc_zone_cfg {
	char name[FC_NAME];
	int sensor;				/* temperature */
	int power;				/* -1: no feed-forward */
	double limit_c, margin_c, power_max_w;
	double kp, ki, kd, ff;
	int fans[FC_MAX_ZONE_FANS];
	double weight[FC_MAX_ZONE_FANS];	/* cooling per unit of speed */
	int nfans;
};

struct fc_config {
	double interval_s;	/* control period */
	double failsafe_pwm;	/* duty for fans of a faulty zone (0..255) */
	double stale_s;		/* a sensor frozen this long while it should move is stale */
	double slew_pct_s;	/* normal fan speed change limit, % of full speed per second */
	double urgent_slew_pct_s; /* near the limit */
	double hysteresis_pct;	/* ignore smaller decreases */
	char status_dir[256];
	struct fc_sensor_cfg sensor[FC_MAX_SENSORS];
	struct fc_fan_cfg fan[FC_MAX_FANS];
	struct fc_zone_cfg zone[FC_MAX_ZONES];
	int nsensors, nfans, nzones;
};

/* Parse a config file into *cfg.  A bad file gives -EINVAL and err =
 * "FILE:LINE: reason" (LINE 0 when the file cannot be read); *cfg is then
 * unspecified, so a reload parses into a scratch copy. */
int fc_config_load(const char *path, struct fc_config *cfg, char *err, size_t errlen);

/* ---- IO backends ---------------------------------------------------------------------------- */

struct fc_io_ops {
	/* A sensor's value: °C, W or rpm.  -errno when it cannot be read. */
	int (*read)(void *ctx, int sensor, double *value);
	/* Drive a fan group at pwm 0..255 (every member). */
	int (*set_pwm)(void *ctx, int fan, int pwm);
	/* Give the fan back to firmware automatic control. */
	int (*release)(void *ctx, int fan);
};
struct fc_io {
	const struct fc_io_ops *ops;
	void *ctx;
};

/* ---- the controller ------------------------------------------------------------------------- */

enum fc_policy {
	FC_POLICY_ACOUSTIC,	/* tb-fand */
	FC_POLICY_LINEAR,	/* baseline: fancontrol-style temperature -> pwm lines */
	FC_POLICY_PID,		/* baseline: per-zone PID, each zone drives all its fans */
};

enum fc_fault { FC_OK, FC_MISSING, FC_IMPLAUSIBLE, FC_STALE, FC_STALLED };

struct fc_sensor_state {
	double value;
	enum fc_fault fault;
	int err;		/* the last read's -errno */
	bool seen;		/* read successfully at least once */
	double changed_at;	/* when the value last changed */
};

struct fc_zone_state {
	double temp_c, setpoint_c;
	double demand;		/* 0..1 */
	double integral, prev_temp;
	double ref_power, ref_speed; /* power and fan speed when the sensor last moved */
	bool primed;
	enum fc_fault fault;	/* the worst of its sensors and fans */
};

struct fc_fan_state {
	double target;		/* planned speed, fraction of max rpm */
	double speed;		/* after hysteresis and slew */
	int pwm;		/* commanded */
	int written;		/* last written pwm, -1: none yet */
	double rpm[FC_MAX_MEMBERS];
	bool failsafe;
	enum fc_fault fault;	/* FC_STALLED */
	double commanded_since;	/* since when pwm >= stop pwm (stall detection) */
	bool falling;		/* hysteresis: a decrease under way */
	bool kicked;		/* seen turning at its start duty since we took it */
	double dba;		/* estimated level of the group */
	int err;		/* the last write's -errno */
};

typedef void (*fc_log_fn)(void *ctx, const char *msg);

struct fc_ctl {
	struct fc_config cfg;
	enum fc_policy policy;
	struct fc_sensor_state sensor[FC_MAX_SENSORS];
	struct fc_zone_state zone[FC_MAX_ZONES];
	struct fc_fan_state fan[FC_MAX_FANS];
	double now, last;
	bool started;
	double dba;		/* estimated total */
	fc_log_fn log;
	void *log_ctx;
};

/* Set up a controller for cfg (copied).  log may be NULL. */
void fc_init(struct fc_ctl *c, const struct fc_config *cfg, enum fc_policy policy, fc_log_fn log, void *log_ctx);
/* Take a new config, keeping the state of the zones and fans whose names
 * stay (a reload does not jolt the fans). */
void fc_reconfigure(struct fc_ctl *c, const struct fc_config *cfg);
/* One control step at time now (seconds, monotonic). */
void fc_tick(struct fc_ctl *c, const struct fc_io *io, double now);
/* Give every fan back to firmware control. */
void fc_release(struct fc_ctl *c, const struct fc_io *io);

/* The fan laws (sound power: +50 log10 of the speed ratio): one fan's level at rpm
 * (-HUGE_VAL when not turning) and the energy sum of n levels. */
double fc_fan_level(double rated_dba, double rated_rpm, double rpm);
double fc_dba_sum(const double *levels, int n);
/* A fan's pwm for a speed (fraction of max rpm) and back. */
int fc_speed_to_pwm(const struct fc_fan_cfg *f, double speed);
double fc_pwm_to_speed(const struct fc_fan_cfg *f, double pwm);
/* The lowest pwm a policy commands (see control.c). */
double fc_floor_pwm(const struct fc_fan_cfg *f, enum fc_policy policy);
/* The planner: speeds (fraction of max rpm, one per fan) meeting every
 * zone's demand at the least estimated dBA; returns that dBA. */
double fc_plan(const struct fc_config *cfg, const double *demand, double *speed);

const char *fc_fault_name(enum fc_fault f);

/* The daemon's status directory (status_dir): the status as JSON and as a
 * table, rewritten atomically after every control step, and the lock the
 * running tb-fand holds (flock) with its pid in it.  A status older than
 * FC_STALE_PERIODS control periods (5 s at the shipped 0.5 s, the unit's
 * WatchdogSec) is a hung daemon's. */
#define FC_STATUS_JSON "status.json"
#define FC_STATUS_TEXT "status.txt"
#define FC_LOCK_FILE "tb-fand.lock"
#define FC_STALE_PERIODS 10
/* Status as JSON / as a table (for tb fan status). */
int fc_status_json(const struct fc_ctl *c, char *out, size_t len);
int fc_status_text(const struct fc_ctl *c, char *out, size_t len);

/* ---- calibration (tb fan calibrate) -------------------------------------------------------- */

/* What was measured of one fan group. */
struct fc_fan_calibration {
	char name[FC_NAME];
	bool ok;			/* measured; otherwise why says what stopped it */
	int start_pwm, stop_pwm;	/* starts from standstill at; lowest duty that still turns */
	double min_rpm, max_rpm;	/* at stop_pwm and at full duty */
	char why[160];
};

struct fc_calibrate_opts {
	double settle_s;		/* wait after each duty change */
	int step;			/* duty step (1..128) */
	void (*sleep)(void *ctx, double seconds);
	void (*progress)(void *ctx, const char *fan, int pwm, double rpm);	/* may be NULL */
	void *ctx;
};

/* Measure every fan group that has tachometers, one at a time, the others
 * at full speed; a group whose measurement would let a zone pass its
 * limit less half its margin goes back to full speed unmeasured.  Fans are
 * released to firmware at the end.  0, or -EAGAIN when some group was cut
 * short for temperature (out[] says which). */
int fc_calibrate(const struct fc_config *cfg, const struct fc_io *io, const struct fc_calibrate_opts *o,
		 struct fc_fan_calibration *out, int *nout);
/* Write the measured groups as a calibration file (atomically). */
int fc_calibration_write(const char *path, const struct fc_fan_calibration *r, int n, char *err, size_t errlen);
/* Lay a calibration file over cfg: FILE:LINE errors, cfg untouched then. */
int fc_calibration_apply(struct fc_config *cfg, const char *path, char *err, size_t errlen);

#endif
