/* libtbplant: the box's thermal, airflow and acoustic model.
 *
 * A lumped model of the appliance: six GPUs (junction, heatsink and memory
 * thermal masses, each GPU with its own fans), the CPU, the NVMe drives and
 * the chassis fans.  Power becomes heat in the masses; airflow proportional
 * to fan speed carries it to the air inside the case, which the chassis fans
 * exchange with the room.  Temperatures therefore lag power.  Fans follow an
 * rpm(pwm) curve with start/stop hysteresis and a spin-up lag, and each one
 * contributes to the sound level at 1 m.
 *
 * The parameters come from a config file (sim/plant/appliance.conf documents
 * every key with its source; it equals the built-in default).  The simulated
 * box exposes this model as hwmon/amdgpu files; the fan benchmark drives it
 * with heat traces.  Errors are return values; nothing here exits. */
#ifndef TB_SIM_PLANT_H
#define TB_SIM_PLANT_H

#include <stddef.h>

#define PLANT_GPUS 6

struct plant; /* opaque */

/* Heat inputs.  gpu_w is each GPU's board power (clamped to 0..its cap),
 * cpu_w the CPU package power, nvme_w the power of all NVMe drives together
 * (shared equally), ambient_c the room temperature. */
struct plant_inputs {
	double gpu_w[PLANT_GPUS];
	double cpu_w, nvme_w, ambient_c;
};

/* Load the model from a config file: "key = value" lines under [section]
 * headers, '#' starts a comment; keys a file leaves out keep their built-in
 * values.  path NULL: the built-in default appliance.  A bad file gives NULL
 * and err = "FILE:LINE: reason" (LINE 0 when the file cannot be read). */
struct plant *plant_load(const char *path, char *err, size_t errlen);
void plant_free(struct plant *p);

/* Advance the model by dt seconds with these heat inputs (substeps
 * internally, so any dt is stable; dt <= 0 or not finite does nothing). */
void plant_step(struct plant *p, double dt, const struct plant_inputs *in);
/* Seconds simulated since plant_load. */
double plant_time(const struct plant *p);

/* Sensors (°C): "gpu0".."gpu5" with kind "edge", "junction", "mem"; "cpu"
 * with "tctl"; "nvme0".."nvmeN-1" with "composite".  -ENOENT for unknown. */
int plant_temp(const struct plant *p, const char *component, const char *kind, double *celsius);
/* The critical limit of a sensor (°C) from the config; -ENOENT for unknown. */
int plant_temp_limit(const struct plant *p, const char *component, const char *kind, double *celsius);
/* Enumerate the sensors: 0..plant_sensor_count()-1 -> component and kind
 * (strings owned by the plant).  -ENOENT out of range. */
int plant_sensor_count(const struct plant *p);
int plant_sensor(const struct plant *p, int index, const char **component, const char **kind);
int plant_nvme_count(const struct plant *p);

/* Fans: index 0..plant_fan_count()-1; names "gpu0".."gpu5" (each GPU's own
 * fans, one actuator per GPU) then "chassis0".."chassisN-1".  Duty 0..255 as
 * hwmon pwm; every fan starts at 255 (full speed, as firmware leaves fans
 * before anyone controls them).  -EINVAL for a bad index or duty. */
int plant_fan_count(const struct plant *p);
const char *plant_fan_name(const struct plant *p, int fan);
int plant_fan_set_pwm(struct plant *p, int fan, int pwm);
int plant_fan_pwm(const struct plant *p, int fan);
/* Measured speed: lags pwm (spin-up), 0 once stopped (below the stop pwm,
 * or stalled). */
int plant_fan_rpm(const struct plant *p, int fan);
/* The fan's speed range (hwmon fan*_min / fan*_max): rpm at the stop pwm
 * and at full duty. */
int plant_fan_min_rpm(const struct plant *p, int fan);
int plant_fan_max_rpm(const struct plant *p, int fan);
/* Fault injection: a stalled fan turns at 0 rpm and moves no air.  When the
 * stall ends it restarts only from the start pwm up, like a real fan. */
int plant_fan_stall(struct plant *p, int fan, int stalled);

/* Sound at 1 m: each turning fan L = rated_dba + 50*log10(rpm/rated_rpm),
 * summed as 10*log10(sum 10^(L/10)).  Silence (no fan turning) is 0. */
double plant_dba(const struct plant *p);
/* One fan's level (dBA at 1 m); 0 when it does not turn. */
double plant_fan_dba(const struct plant *p, int fan);
/* The acoustic laws themselves, for controllers that plan fan speeds:
 * a fan's level at rpm (-HUGE_VAL at rpm <= 0) and the sum of n levels
 * (0 when n is 0 or all are silent). */
double plant_fan_level(double rated_dba, double rated_rpm, double rpm);
double plant_dba_sum(const double *levels, int n);

/* Heat trace: CSV whose header is exactly
 *   t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c
 * each row holds from its time until the next row's; times strictly
 * increase from 0.  The last row's time is the trace's duration (its values
 * hold from then on).  Bad file: NULL and err "FILE:LINE: reason". */
struct plant_trace;
struct plant_trace *plant_trace_load(const char *path, char *err, size_t errlen);
void plant_trace_free(struct plant_trace *t);
double plant_trace_duration(const struct plant_trace *t);
/* The inputs at time t_s (before 0: the first row; after the end: the last). */
void plant_trace_at(const struct plant_trace *t, double t_s, struct plant_inputs *out);
/* Replay: advance the plant by dt from plant_time(p), taking the inputs from
 * the trace at each moment (steps are split at row boundaries). */
void plant_step_trace(struct plant *p, const struct plant_trace *t, double dt);

#endif
