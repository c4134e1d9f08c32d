/* The runner of tb setup's commands over the steps (installer/run.c). */
#ifndef TB_SETUP_RUNNER_H
#define TB_SETUP_RUNNER_H

#include <jansson.h>

#include "installer/internal.h"

enum runner_command { RUN_PLAN, RUN_APPLY, RUN_VERIFY };

/* What became of a step in this run. */
enum step_outcome {
	OUTCOME_OK,		/* in the desired state: nothing to change */
	OUTCOME_CHANGED,	/* apply changed it and it verified */
	OUTCOME_WOULD_CHANGE,	/* plan: these changes are needed */
	OUTCOME_SKIPPED,	/* a once-step done before with the same inputs */
	OUTCOME_FAILED,
	OUTCOME_REFUSED,
	OUTCOME_REBOOT,
	OUTCOME_NOT_RUN,	/* an earlier step stopped the apply */
	OUTCOME_LEFT_OUT,	/* [setup] skip names it */
	OUTCOME_COUNT
};

struct runner {
	struct setup *s;
	struct ledger ledger;
	FILE *out;
	bool tty;		/* progress lines on a terminal */
	json_t *json_steps;	/* with --json: one object per step */
	unsigned count[OUTCOME_COUNT];
};

/* Whether [setup] skip names the step. */
bool runner_skipped(const struct setup *s, const char *step);
/* Run cmd over every step; the result is tb setup's exit status. */
int runner_run(struct runner *run, enum runner_command cmd);

#endif
