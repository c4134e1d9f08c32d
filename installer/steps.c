/* The steps of tb setup, in the order they run: each later step may rely on
 * what the earlier ones set up. */
#include <stddef.h>

#include "installer/setup.h"

extern const struct setup_step step_system;
extern const struct setup_step step_storage;
extern const struct setup_step step_power;
extern const struct setup_step step_fans;
extern const struct setup_step step_services, step_access, step_final;

const struct setup_step *const setup_steps[] = {
	&step_system,
	&step_storage,
	&step_power,
	&step_fans,
	&step_services,
	&step_access,
	&step_final,
	NULL,
};
