/* libtbplant internals: parameters, fan and thermal state.  Private to
 * sim/plant/. */
#ifndef TB_SIM_PLANT_INTERNAL_H
#define TB_SIM_PLANT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sim/plant/plant.h"
#include "util/tbutil.h"

#define PLANT_MAX_NVME 8
#define PLANT_MAX_CHASSIS_FANS 16
#define PLANT_MAX_FANS (PLANT_GPUS + PLANT_MAX_CHASSIS_FANS)

/* Heat carried by one CFM of air per kelvin of temperature rise:
 * rho * c_p * 1 ft^3/min = 1.204 kg/m^3 * 1005 J/(kg K) * 4.719e-4 m^3/s. */
#define PLANT_W_PER_K_PER_CFM 0.5710

struct fan_params {
	double max_rpm;    /* at pwm 255 */
	double min_rpm;    /* at the stop pwm, the slowest it turns */
	double start_pwm;  /* needed to start from standstill */
	double stop_pwm;   /* below it a turning fan stops */
	double spin_up_s;  /* first-order time constant of its speed */
	double max_cfm;    /* airflow at max_rpm (fan law: flow ~ rpm) */
	double rated_rpm;  /* speed of the rated sound level */
	double rated_dba;  /* sound level at 1 m at rated_rpm */
};

/* A heatsink cooled by air: natural convection plus forced convection
 * proportional to the airflow through it. */
struct sink_params {
	double natural_w_per_k;
	double forced_w_per_k_per_cfm;
	double chassis_share; /* fraction of the chassis airflow through it */
};

struct plant_params {
	double ambient_c;
	struct {
		double heat_capacity, natural_w_per_k, exchange;
	} chassis;
	struct {
		double max_power_w, junction_limit_c, edge_limit_c, mem_limit_c;
		double mem_fraction, vrm_fraction;
		double die_capacity, sink_capacity, mem_capacity;
		double die_to_sink, edge_to_sink, mem_to_sink; /* K/W */
		struct sink_params sink;
	} gpu;
	struct fan_params gpu_fan;
	struct {
		double max_power_w, tctl_limit_c;
		double die_capacity, sink_capacity, die_to_sink;
		struct sink_params sink;
	} cpu;
	struct {
		double count, max_power_w, composite_limit_c, capacity;
		struct sink_params sink;
	} nvme;
	double chassis_fans;
	struct fan_params chassis_fan;
};

/* params.c: the parameter table (built-in defaults) and the config parser. */
void plant_params_default(struct plant_params *prm);
size_t plant_params_key_count(void); /* for the test that the documented file sets every key */
int plant_params_parse(const char *path, struct plant_params *prm, char *err, size_t errlen);
bool plant_parse_number(const char *s, double *out);


/* fan.c */
struct fan {
	const struct fan_params *prm;
	char name[16];
	int pwm;
	bool running; /* the motor is driven (start/stop hysteresis) */
	bool stalled; /* fault injected: rotor locked */
	double rpm;   /* actual speed, lags the target */
};
void fan_init(struct fan *f, const struct fan_params *prm, const char *name);
void fan_set_pwm(struct fan *f, int pwm);
void fan_set_stall(struct fan *f, bool stalled);
void fan_advance(struct fan *f, double dt);
int fan_measured_rpm(const struct fan *f);
double fan_cfm(const struct fan *f);
double fan_level(const struct fan *f);

/* thermal.c: the masses and their heat flows. */
struct gpu_state {
	double die, sink, mem;
};

struct plant {
	struct plant_params prm;
	double time_s;
	double case_c; /* air inside the case */
	struct gpu_state gpu[PLANT_GPUS];
	double cpu_die, cpu_sink;
	double nvme[PLANT_MAX_NVME];
	double max_substep; /* explicit Euler stays monotonic below it */
	int nvme_count;
	int fan_count;
	struct fan fans[PLANT_MAX_FANS];
};

void thermal_init(struct plant *p);
void thermal_step(struct plant *p, double dt, const struct plant_inputs *in);
double thermal_gpu_edge(const struct plant *p, int gpu);

#endif
