/* Fans: the rpm(pwm) curve with start/stop hysteresis, the spin-up lag, the
 * airflow (fan law: flow proportional to speed) and the sound level (fan law
 * for sound power: +50 log10 of the speed ratio). */
#include <math.h>
#include <stdio.h>

#include "sim/plant/internal.h"

void fan_init(struct fan *f, const struct fan_params *prm, const char *name)
{
	f->prm = prm;
	snprintf(f->name, sizeof f->name, "%s", name);
	f->stalled = false;
	/* Firmware leaves fans at full duty until a controller takes over. */
	f->pwm = 255;
	f->running = prm->start_pwm <= 255;
	f->rpm = f->running ? prm->max_rpm : 0;
}

/* The motor driver's state: a stopped fan needs the start duty to break
 * away from standstill, a turning one keeps turning down to the stop duty. */
static void fan_update_running(struct fan *f)
{
	if (f->stalled)
		f->running = false;
	else if (f->running && f->pwm < f->prm->stop_pwm)
		f->running = false;
	else if (!f->running && f->pwm >= f->prm->start_pwm)
		f->running = true;
}

void fan_set_pwm(struct fan *f, int pwm)
{
	f->pwm = pwm;
	fan_update_running(f);
}

void fan_set_stall(struct fan *f, bool stalled)
{
	f->stalled = stalled;
	if (stalled)
		f->rpm = 0; /* a locked rotor: no coasting */
	fan_update_running(f);
}

/* Steady speed for the current duty: linear from min_rpm at the stop duty
 * to max_rpm at 255 (PWM fans are close to linear above their minimum). */
static double fan_target_rpm(const struct fan *f)
{
	const struct fan_params *prm = f->prm;
	if (!f->running)
		return 0;
	double span = 255 - prm->stop_pwm;
	double x = span > 0 ? (f->pwm - prm->stop_pwm) / span : 1;
	if (x < 0)
		x = 0;
	return prm->min_rpm + (prm->max_rpm - prm->min_rpm) * x;
}

/* First-order lag, integrated exactly so any dt is stable. */
void fan_advance(struct fan *f, double dt)
{
	fan_update_running(f);
	if (f->stalled) {
		f->rpm = 0;
		return;
	}
	double target = fan_target_rpm(f);
	f->rpm = target + (f->rpm - target) * exp(-dt / f->prm->spin_up_s);
	if (target == 0 && f->rpm < 1)
		f->rpm = 0; /* coasted to a stop (exponential decay never ends) */
}

/* The tachometer: a stopped fan reads 0 as soon as it has coasted below the
 * slowest speed it runs at, since too few tach pulses arrive to measure it. */
int fan_measured_rpm(const struct fan *f)
{
	if (f->stalled || (!f->running && f->rpm < f->prm->min_rpm))
		return 0;
	return (int)lround(f->rpm);
}

double fan_cfm(const struct fan *f)
{
	return f->prm->max_cfm * f->rpm / f->prm->max_rpm;
}

double plant_fan_level(double rated_dba, double rated_rpm, double rpm)
{
	if (!(rpm > 0) || !(rated_rpm > 0))
		return -HUGE_VAL;
	return rated_dba + 50 * log10(rpm / rated_rpm);
}

double plant_dba_sum(const double *levels, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		if (isfinite(levels[i]))
			sum += pow(10, levels[i] / 10);
	return sum > 0 ? 10 * log10(sum) : 0;
}

double fan_level(const struct fan *f)
{
	return plant_fan_level(f->prm->rated_dba, f->prm->rated_rpm, f->rpm);
}
