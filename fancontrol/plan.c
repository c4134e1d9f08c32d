/* The acoustic objective: the fan speeds that meet every zone's cooling
 * demand at the least total sound level.
 *
 * A zone is satisfied when sum(weight_f * speed_f) over its fans reaches
 * its demand.  The shared fans (the chassis group, which cools every zone)
 * are searched on a grid; for each candidate the other fans follow directly
 * (each takes the largest residual of its zones), and the candidate's dBA
 * comes from the fan laws.  Large slow fans are cheap in dBA, so the search
 * leans on them before it spins up the small fast GPU fans. */
#include <math.h>
#include <string.h>

#include "fancontrol/fan.h"

#define GRID_ONE 100	/* steps for one shared fan */
#define GRID_TWO 40	/* steps per shared fan when there are two */

struct candidate {
	double speed[FC_MAX_FANS];
	double dba;
	bool feasible;
};

static double floor_speed(const struct fc_fan_cfg *f)
{
	return fc_pwm_to_speed(f, fc_floor_pwm(f, FC_POLICY_ACOUSTIC));
}

/* Fill the non-shared fans for the shared speeds already in c->speed. */
static void follow(const struct fc_config *cfg, const double *demand, struct candidate *c)
{
	c->feasible = true;
	for (int f = 0; f < cfg->nfans; f++)
		if (!cfg->fan[f].shared)
			c->speed[f] = floor_speed(&cfg->fan[f]);
	for (int zi = 0; zi < cfg->nzones; zi++) {
		const struct fc_zone_cfg *z = &cfg->zone[zi];
		double residual = demand[zi], own = 0;
		for (int k = 0; k < z->nfans; k++) {
			if (cfg->fan[z->fans[k]].shared)
				residual -= z->weight[k] * c->speed[z->fans[k]];
			else
				own += z->weight[k];
		}
		if (residual <= 1e-9)
			continue;
		if (own <= 0) {
			c->feasible = false;
			continue;
		}
		double need = residual / own;
		if (need > 1 + 1e-9)
			c->feasible = false;
		for (int k = 0; k < z->nfans; k++)
			if (!cfg->fan[z->fans[k]].shared)
				c->speed[z->fans[k]] = fmin(1, fmax(c->speed[z->fans[k]], need));
	}
}

static double candidate_dba(const struct fc_config *cfg, const struct candidate *c)
{
	double levels[FC_MAX_FANS];
	for (int f = 0; f < cfg->nfans; f++) {
		const struct fc_fan_cfg *fc = &cfg->fan[f];
		double l = fc_fan_level(fc->rated_dba, fc->rated_rpm, c->speed[f] * fc->max_rpm);
		levels[f] = isfinite(l) ? l + 10 * log10(fc->nmembers) : l;
	}
	return fc_dba_sum(levels, cfg->nfans);
}

static void consider(const struct fc_config *cfg, const double *demand, struct candidate *try, struct candidate *best)
{
	follow(cfg, demand, try);
	try->dba = candidate_dba(cfg, try);
	/* a feasible plan beats any infeasible one; among infeasible plans
	 * (demand beyond full cooling) the loudest does the most */
	bool better = try->feasible ? (!best->feasible || try->dba < best->dba - 1e-9)
				    : (!best->feasible && try->dba > best->dba);
	if (better)
		*best = *try;
}

double fc_plan(const struct fc_config *cfg, const double *demand, double *speed)
{
	int shared[2], nshared = 0;
	for (int f = 0; f < cfg->nfans && nshared < 2; f++)
		if (cfg->fan[f].shared)
			shared[nshared++] = f;
	struct candidate best = {.dba = -HUGE_VAL, .feasible = false}, try;
	memset(&try, 0, sizeof try);
	int steps = nshared == 2 ? GRID_TWO : GRID_ONE;
	int n0 = nshared >= 1 ? steps : 0, n1 = nshared == 2 ? steps : 0;
	for (int i = 0; i <= n0; i++) {
		for (int j = 0; j <= n1; j++) {
			if (nshared >= 1) {
				double lo = floor_speed(&cfg->fan[shared[0]]);
				try.speed[shared[0]] = lo + (1 - lo) * i / steps;
			}
			if (nshared == 2) {
				double lo = floor_speed(&cfg->fan[shared[1]]);
				try.speed[shared[1]] = lo + (1 - lo) * j / steps;
			}
			consider(cfg, demand, &try, &best);
		}
	}
	memcpy(speed, best.speed, sizeof(double) * (size_t)cfg->nfans);
	return best.dba;
}
