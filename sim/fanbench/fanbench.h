/* libtbfanbench: the fan controller (libtbfan) against the thermal plant
 * (sim/plant), in plant time: an IO backend on the plant and the benchmark.
 * Used by `tb fanbench` (make bench) and the tests; the shipped tb-fand and
 * tb fan contain none of it. */
#ifndef TB_SIM_FANBENCH_H
#define TB_SIM_FANBENCH_H

#include "fancontrol/fan.h"
#include "sim/plant/plant.h"

/* ---- the plant backend ---------------------------------------------------------------------- */

/* Sensors and fans are found by the names the box gives them (sim/box):
 * amdgpu-pci-0300..a300 (edge, junction, mem, PPT, fan1), k10temp-pci-00c3
 * (Tctl), nvme-pci-c100.. (Composite), nct6798-isa-0290 (fanN, pwmN). */
struct fc_plant_io {
	struct plant *plant;
	const struct plant_trace *trace;	/* power readings; NULL: none */
	double time_offset;			/* plant time at the trace's start */
	const struct fc_config *cfg;
	int map[FC_MAX_SENSORS];		/* plant sensor / fan index */
	bool frozen[FC_MAX_SENSORS];		/* fault injection */
	double frozen_value[FC_MAX_SENSORS];
	bool removed[FC_MAX_SENSORS];
	bool released[FC_MAX_FANS];
	int fan_map[FC_MAX_FANS][FC_MAX_MEMBERS];
};
/* Bind cfg's sensors and fans to the plant; -ENOENT and err naming the
 * first one the plant does not have. */
int fc_plant_io_init(struct fc_plant_io *pio, struct plant *p, const struct plant_trace *t,
		     const struct fc_config *cfg, char *err, size_t errlen);
struct fc_io fc_plant_io(struct fc_plant_io *pio);
/* Fault injection by sensor name (CHIP/LABEL): freeze at its current
 * value, or remove; -ENOENT for a name not in the config. */
int fc_plant_io_freeze(struct fc_plant_io *pio, const char *sensor);
int fc_plant_io_remove(struct fc_plant_io *pio, const char *sensor);

/* ---- the benchmark -------------------------------------------------------------------------- */

enum { FC_BENCH_GPU_EDGE, FC_BENCH_GPU_JUNCTION, FC_BENCH_GPU_MEM, FC_BENCH_CPU, FC_BENCH_NVME, FC_BENCH_ZONES };
extern const char *const fc_bench_zone_names[FC_BENCH_ZONES];

struct fc_bench_result {
	char trace[64];
	const char *controller;		/* tb-fand, linear, pid */
	double seconds;			/* plant time */
	double mean_dba, peak_dba;
	int audible_changes;		/* a fan's speed moving > 10% of its range within 2 s */
	double seconds_over_limit;	/* any sensor above its critical limit */
	double max_temp_c[FC_BENCH_ZONES];
};

const char *fc_policy_name(enum fc_policy p);
/* Run one controller over one trace on a fresh plant (plant_config NULL:
 * the default appliance).  -errno and err on a bad trace or config. */
int fc_bench_run(const struct fc_config *cfg, const char *plant_config, const char *trace_path, enum fc_policy policy,
		 struct fc_bench_result *r, char *err, size_t errlen);

#endif
