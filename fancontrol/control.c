/* The control step: sensors -> faults -> zone demands -> planned speeds ->
 * hysteresis and slew -> failsafe -> pwm writes.  See fan.h for the whole
 * picture. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fancontrol/fan.h"

/* A temperature reading outside this range is a broken sensor, not heat. */
#define TEMP_MIN_C -40.0
#define TEMP_MAX_C 150.0
/* Largest believable change between two readings: a GPU hotspot rises
 * ~7 K/s at a full load step; 30 K at once is a glitch. */
#define TEMP_JUMP_C 30.0
/* A frozen sensor is only suspicious when what drives it moved this much
 * (fraction of the power range, or of full fan speed). */
#define STALE_MOVE 0.2
/* A fan told to turn is judged by its tachometer only after this long: a
 * fan from standstill needs its spin-up (about a second to the lowest speed
 * a tachometer measures) and then a fresh reading, which hwmon drivers
 * cache for 1.5 s (HZ + HZ / 2); until then the reading may still be the
 * firmware's fan, standing still or coasting down. */
#define STALL_GRACE_S 3.0
/* commanded_since while the write that told the fan to turn is not yet
 * known done */
#define COMMAND_PENDING HUGE_VAL

static void logf_(struct fc_ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(struct fc_ctl *c, const char *fmt, ...)
{
	if (!c->log)
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->log(c->log_ctx, msg);
}

static double clamp(double v, double lo, double hi)
{
	if (!(v >= lo))
		return lo;
	return v > hi ? hi : v;
}

const char *fc_fault_name(enum fc_fault f)
{
	static const char *const names[] = {"ok", "missing", "implausible", "stale", "stalled"};
	return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

static void reset_fan(struct fc_fan_state *f)
{
	memset(f, 0, sizeof *f);
	f->written = -1;
	f->pwm = -1;
}

void fc_init(struct fc_ctl *c, const struct fc_config *cfg, enum fc_policy policy, fc_log_fn log, void *log_ctx)
{
	memset(c, 0, sizeof *c);
	c->cfg = *cfg;
	c->policy = policy;
	c->log = log;
	c->log_ctx = log_ctx;
	for (int i = 0; i < FC_MAX_FANS; i++)
		reset_fan(&c->fan[i]);
}

/* Keep the state of what keeps its name; start the rest afresh. */
void fc_reconfigure(struct fc_ctl *c, const struct fc_config *cfg)
{
	struct fc_zone_state zones[FC_MAX_ZONES];
	struct fc_fan_state fans[FC_MAX_FANS];
	memset(zones, 0, sizeof zones);
	for (int i = 0; i < FC_MAX_FANS; i++)
		reset_fan(&fans[i]);
	for (int i = 0; i < cfg->nzones; i++)
		for (int j = 0; j < c->cfg.nzones; j++)
			if (!strcmp(cfg->zone[i].name, c->cfg.zone[j].name))
				zones[i] = c->zone[j];
	for (int i = 0; i < cfg->nfans; i++)
		for (int j = 0; j < c->cfg.nfans; j++)
			if (!strcmp(cfg->fan[i].name, c->cfg.fan[j].name))
				fans[i] = c->fan[j];
	c->cfg = *cfg;
	memcpy(c->zone, zones, sizeof zones);
	memcpy(c->fan, fans, sizeof fans);
	memset(c->sensor, 0, sizeof c->sensor);
}

/* ---- fan laws ---------------------------------------------------------------------------------- */

double fc_fan_level(double rated_dba, double rated_rpm, double rpm)
{
	if (!(rpm > 0) || !(rated_rpm > 0))
		return -HUGE_VAL;
	return rated_dba + 50 * log10(rpm / rated_rpm);
}

double fc_dba_sum(const double *levels, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		if (isfinite(levels[i]))
			sum += pow(10, levels[i] / 10);
	return sum > 0 ? 10 * log10(sum) : 0;
}

/* rpm is linear in pwm from min_rpm at the stop duty to max_rpm at 255. */
double fc_pwm_to_speed(const struct fc_fan_cfg *f, double pwm)
{
	if (pwm < f->stop_pwm)
		return 0;
	double span = 255 - f->stop_pwm;
	double rpm = span > 0 ? f->min_rpm + (f->max_rpm - f->min_rpm) * (pwm - f->stop_pwm) / span : f->max_rpm;
	return rpm / f->max_rpm;
}

/* Rounded up: the fan turns at least as fast as asked. */
int fc_speed_to_pwm(const struct fc_fan_cfg *f, double speed)
{
	double rpm = clamp(speed, 0, 1) * f->max_rpm;
	double pwm = f->stop_pwm;
	if (rpm > f->min_rpm)
		pwm = f->stop_pwm + (255 - f->stop_pwm) * (rpm - f->min_rpm) / (f->max_rpm - f->min_rpm);
	pwm = ceil(pwm - 1e-9);
	return (int)clamp(pwm, f->stop_pwm, 255);
}

/* ---- sensors ----------------------------------------------------------------------------------- */

static bool plausible(enum fc_sensor_kind kind, double v, const struct fc_sensor_state *prev)
{
	switch (kind) {
	case FC_SENSOR_TEMP:
		if (v < TEMP_MIN_C || v > TEMP_MAX_C)
			return false;
		return !prev->seen || fabs(v - prev->value) <= TEMP_JUMP_C;
	case FC_SENSOR_POWER: return v >= 0 && v <= 5000;
	case FC_SENSOR_FAN: return v >= 0 && v <= 30000;
	}
	return false;
}

static void read_sensors(struct fc_ctl *c, const struct fc_io *io)
{
	for (int i = 0; i < c->cfg.nsensors; i++) {
		struct fc_sensor_state *s = &c->sensor[i];
		double v = NAN;
		int rc = io->ops->read(io->ctx, i, &v);
		s->err = rc < 0 ? rc : 0;
		if (rc < 0) {
			s->fault = FC_MISSING;
			continue;
		}
		if (!isfinite(v) || !plausible(c->cfg.sensor[i].kind, v, s)) {
			s->fault = FC_IMPLAUSIBLE;
			s->value = isfinite(v) ? v : s->value;
			continue;
		}
		if (!s->seen || v != s->value)
			s->changed_at = c->now;
		s->value = v;
		s->seen = true;
		s->fault = FC_OK;
	}
}

/* Every tachometer of the fan reads a speed (no tachometer: assume so). */
static bool fan_turning(const struct fc_ctl *c, int f)
{
	const struct fc_fan_cfg *fc = &c->cfg.fan[f];
	for (int m = 0; m < fc->nmembers; m++)
		if (fc->tach[m] >= 0 && !(c->fan[f].rpm[m] > 0))
			return false;
	return true;
}

/* A fan told to turn that reads 0 rpm once settled is stalled; a
 * tachometer that cannot be read leaves its fan unknown, which is no
 * safer. */
static void check_fans(struct fc_ctl *c)
{
	for (int f = 0; f < c->cfg.nfans; f++) {
		const struct fc_fan_cfg *fc = &c->cfg.fan[f];
		struct fc_fan_state *fs = &c->fan[f];
		bool commanded = fs->written >= fc->stop_pwm;
		/* the grace counts from the first step after the write went out:
		 * the step that wrote may itself have taken long (many fans, a
		 * slow bus), and its start time is before the fan was told */
		if (!commanded || fs->commanded_since == COMMAND_PENDING)
			fs->commanded_since = c->now;
		bool settled = commanded && c->now - fs->commanded_since >= STALL_GRACE_S - 1e-9;
		enum fc_fault fault = FC_OK;
		for (int m = 0; m < fc->nmembers; m++) {
			int t = fc->tach[m];
			if (t < 0)
				continue;
			const struct fc_sensor_state *s = &c->sensor[t];
			double before = fs->rpm[m];
			fs->rpm[m] = s->value;
			/* once settled, a fan at its start duty must turn, and a
			 * turning one that suddenly reads 0 has stopped (a coasting
			 * rotor still gives tach pulses); a stall lasts until the fan
			 * turns again */
			bool stopped = s->value <= 0;
			bool must_turn = fs->written >= fc->start_pwm || before > 0;
			if (s->fault != FC_OK)
				fault = s->fault;
			else if (stopped && ((settled && must_turn) || fs->fault == FC_STALLED))
				fault = FC_STALLED;
		}
		/* the kick-start is done when the fan is seen turning after it
		 * settled at its start duty, not when the write returned: until
		 * then the reading may be the rotor still coasting from
		 * firmware's speed, and the kick may not have reached it */
		if (settled && fs->written >= fc->start_pwm && fault == FC_OK && fan_turning(c, f))
			fs->kicked = true;
		if (fault != fs->fault) {
			if (fault == FC_OK)
				logf_(c, "fan %s: %s cleared", fc->name, fc_fault_name(fs->fault));
			else
				logf_(c, "fan %s: %s, failsafe for its zones", fc->name, fc_fault_name(fault));
		}
		fs->fault = fault;
	}
}

/* ---- zones ------------------------------------------------------------------------------------- */

static double zone_speed(const struct fc_ctl *c, const struct fc_zone_cfg *z)
{
	double s = 0;
	for (int k = 0; k < z->nfans; k++)
		s = fmax(s, c->fan[z->fans[k]].speed);
	return s;
}

/* Frozen while its power or its fans moved a lot: the reading is stale. */
static bool zone_stale(struct fc_ctl *c, int zi)
{
	const struct fc_zone_cfg *z = &c->cfg.zone[zi];
	struct fc_zone_state *zs = &c->zone[zi];
	const struct fc_sensor_state *s = &c->sensor[z->sensor];
	double power = z->power >= 0 ? c->sensor[z->power].value : 0, speed = zone_speed(c, z);
	if (s->changed_at == c->now || !zs->primed) {
		zs->ref_power = power;
		zs->ref_speed = speed;
		return false;
	}
	if (c->now - s->changed_at < c->cfg.stale_s)
		return false;
	bool power_moved = z->power >= 0 && fabs(power - zs->ref_power) > STALE_MOVE * z->power_max_w;
	return power_moved || fabs(speed - zs->ref_speed) > STALE_MOVE;
}

static enum fc_fault zone_fault(struct fc_ctl *c, int zi)
{
	const struct fc_zone_cfg *z = &c->cfg.zone[zi];
	enum fc_fault f = c->sensor[z->sensor].fault;
	if (f == FC_OK && z->power >= 0)
		f = c->sensor[z->power].fault;
	if (f == FC_OK && zone_stale(c, zi))
		f = FC_STALE;
	for (int k = 0; k < z->nfans && f == FC_OK; k++)
		f = c->fan[z->fans[k]].fault;
	return f;
}

/* Feed-forward from power plus PID on the distance to the set point; the
 * integral stops while the output is saturated in the error's direction
 * (no windup). */
static void zone_demand(struct fc_ctl *c, int zi, double dt)
{
	const struct fc_zone_cfg *z = &c->cfg.zone[zi];
	struct fc_zone_state *zs = &c->zone[zi];
	double t = c->sensor[z->sensor].value;
	zs->temp_c = t;
	zs->setpoint_c = z->limit_c - z->margin_c;
	double e = t - zs->setpoint_c;
	double ff = 0;
	if (z->power >= 0 && c->policy == FC_POLICY_ACOUSTIC)
		ff = z->ff * clamp(c->sensor[z->power].value / z->power_max_w, 0, 1);
	double d = zs->primed && dt > 0 ? z->kd * (t - zs->prev_temp) / dt : 0;
	double u = ff + z->kp * e + zs->integral + d;
	if (!((u >= 1 && e > 0) || (u <= 0 && e < 0)))
		zs->integral = clamp(zs->integral + z->ki * e * dt, -1, 1);
	zs->demand = clamp(ff + z->kp * e + zs->integral + d, 0, 1);
	zs->prev_temp = t;
	zs->primed = true;
}

/* fancontrol-style line for the baseline: from min speed at set point - 35
 * to full speed at the set point. */
static double linear_speed(const struct fc_zone_state *zs)
{
	return clamp((zs->temp_c - (zs->setpoint_c - 35)) / 35, 0, 1);
}

/* ---- fans -------------------------------------------------------------------------------------- */

/* The lowest duty a controller commands.  The acoustic planner knows the
 * motor's hysteresis: a turning fan keeps turning down to its stop duty
 * (kick-started at the start duty when it is not turning); the baselines
 * keep to the config's min_pwm, like fancontrol's MINSTART. */
double fc_floor_pwm(const struct fc_fan_cfg *f, enum fc_policy policy)
{
	return policy == FC_POLICY_ACOUSTIC ? fmin(f->stop_pwm, f->min_pwm) : f->min_pwm;
}

static bool fan_urgent(const struct fc_ctl *c, int f)
{
	for (int zi = 0; zi < c->cfg.nzones; zi++) {
		const struct fc_zone_cfg *z = &c->cfg.zone[zi];
		for (int k = 0; k < z->nfans; k++)
			if (z->fans[k] == f && c->zone[zi].temp_c >= z->limit_c - z->margin_c / 2)
				return true;
	}
	return false;
}

static bool fan_failsafe(const struct fc_ctl *c, int f)
{
	if (c->fan[f].fault != FC_OK)
		return true;
	for (int zi = 0; zi < c->cfg.nzones; zi++) {
		const struct fc_zone_cfg *z = &c->cfg.zone[zi];
		for (int k = 0; k < z->nfans; k++)
			if (z->fans[k] == f && c->zone[zi].fault != FC_OK)
				return true;
	}
	return false;
}

/* Hysteresis (small decreases wait) and slew (changes spread over time so
 * they stay inaudible), except near a limit. */
static double smooth(struct fc_ctl *c, int f, double dt)
{
	struct fc_fan_state *fs = &c->fan[f];
	double s = fs->speed, t = fs->target;
	if (fs->written < 0)
		return t; /* taking over from firmware: go straight there */
	double rate = (fan_urgent(c, f) ? c->cfg.urgent_slew_pct_s : c->cfg.slew_pct_s) / 100 * dt;
	if (t > s) {
		fs->falling = false;
		return s + fmin(t - s, rate);
	}
	if (!fs->falling && s - t < c->cfg.hysteresis_pct / 100)
		return s;
	fs->falling = s - t > 1e-6;
	return s - fmin(s - t, c->cfg.slew_pct_s / 100 * dt);
}

static void plan_fans(struct fc_ctl *c, double dt)
{
	double demand[FC_MAX_ZONES], speed[FC_MAX_FANS];
	for (int z = 0; z < c->cfg.nzones; z++)
		demand[z] = c->zone[z].demand;
	if (c->policy == FC_POLICY_ACOUSTIC) {
		fc_plan(&c->cfg, demand, speed);
	} else {
		/* baselines: each zone drives all its fans; a fan takes the largest ask */
		for (int f = 0; f < c->cfg.nfans; f++)
			speed[f] = 0;
		for (int zi = 0; zi < c->cfg.nzones; zi++) {
			const struct fc_zone_cfg *z = &c->cfg.zone[zi];
			double ask = c->policy == FC_POLICY_LINEAR ? linear_speed(&c->zone[zi]) : demand[zi];
			for (int k = 0; k < z->nfans; k++)
				speed[z->fans[k]] = fmax(speed[z->fans[k]], ask);
		}
	}
	for (int f = 0; f < c->cfg.nfans; f++) {
		const struct fc_fan_cfg *fc = &c->cfg.fan[f];
		struct fc_fan_state *fs = &c->fan[f];
		int floor_pwm = (int)fc_floor_pwm(fc, c->policy);
		fs->target = fmax(speed[f], fc_pwm_to_speed(fc, floor_pwm));
		fs->speed = c->policy == FC_POLICY_ACOUSTIC ? smooth(c, f, dt) : fs->target;
		fs->pwm = (int)fmax(fc_speed_to_pwm(fc, fs->speed), floor_pwm);
		/* a stopped fan needs its start duty; so does one we have not yet
		 * driven, which may only be coasting down after firmware cut it */
		if (fs->pwm < fc->start_pwm && (!fan_turning(c, f) || !fs->kicked))
			fs->pwm = (int)ceil(fc->start_pwm);
		bool fsafe = fan_failsafe(c, f);
		if (fsafe != fs->failsafe)
			logf_(c, "fan %s: %s", fc->name, fsafe ? "failsafe duty" : "back under control");
		fs->failsafe = fsafe;
		if (fsafe) {
			fs->pwm = (int)fmax(c->cfg.failsafe_pwm, fc->start_pwm);
			fs->speed = fc_pwm_to_speed(fc, fs->pwm);
		}
	}
}

static void write_fans(struct fc_ctl *c, const struct fc_io *io)
{
	for (int f = 0; f < c->cfg.nfans; f++) {
		struct fc_fan_state *fs = &c->fan[f];
		if (fs->pwm == fs->written)
			continue;
		int rc = io->ops->set_pwm(io->ctx, f, fs->pwm);
		if (rc < 0 && rc != fs->err)
			logf_(c, "fan %s: cannot set pwm %d: %s", c->cfg.fan[f].name, fs->pwm, strerror(-rc));
		fs->err = rc < 0 ? rc : 0;
		if (rc == 0) {
			if (fs->written < c->cfg.fan[f].stop_pwm && fs->pwm >= c->cfg.fan[f].stop_pwm)
				fs->commanded_since = COMMAND_PENDING;
			fs->written = fs->pwm;
		}
	}
}

/* The estimate tb fan status shows: measured rpm where there is a
 * tachometer, else the speed asked for. */
static void estimate_dba(struct fc_ctl *c)
{
	double all[FC_MAX_FANS * FC_MAX_MEMBERS];
	int n = 0;
	for (int f = 0; f < c->cfg.nfans; f++) {
		const struct fc_fan_cfg *fc = &c->cfg.fan[f];
		double mine[FC_MAX_MEMBERS];
		for (int m = 0; m < fc->nmembers; m++) {
			double rpm = fc->tach[m] >= 0 ? c->fan[f].rpm[m] : c->fan[f].speed * fc->max_rpm;
			mine[m] = all[n++] = fc_fan_level(fc->rated_dba, fc->rated_rpm, rpm);
		}
		c->fan[f].dba = fc_dba_sum(mine, fc->nmembers);
	}
	c->dba = fc_dba_sum(all, n);
}

void fc_tick(struct fc_ctl *c, const struct fc_io *io, double now)
{
	double dt = c->started ? now - c->last : c->cfg.interval_s;
	dt = clamp(dt, 0, 10);
	c->now = now;
	read_sensors(c, io);
	check_fans(c);
	for (int z = 0; z < c->cfg.nzones; z++) {
		enum fc_fault f = zone_fault(c, z);
		if (f != c->zone[z].fault && f == FC_STALLED)
			logf_(c, "zone %s: a fan of it stalled", c->cfg.zone[z].name);
		else if (f != c->zone[z].fault)
			logf_(c, "zone %s: sensor %s %s", c->cfg.zone[z].name, c->cfg.sensor[c->cfg.zone[z].sensor].name,
			      f == FC_OK ? "is back" : fc_fault_name(f));
		c->zone[z].fault = f;
		if (f == FC_OK || f == FC_STALLED)
			zone_demand(c, z, dt);
	}
	plan_fans(c, dt);
	write_fans(c, io);
	estimate_dba(c);
	c->last = now;
	c->started = true;
}

void fc_release(struct fc_ctl *c, const struct fc_io *io)
{
	for (int f = 0; f < c->cfg.nfans; f++) {
		int rc = io->ops->release(io->ctx, f);
		if (rc < 0)
			logf_(c, "fan %s: cannot give back to firmware control: %s", c->cfg.fan[f].name, strerror(-rc));
		c->fan[f].written = -1;
		c->fan[f].kicked = false;
	}
}
