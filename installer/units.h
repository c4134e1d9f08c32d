/* systemctl on the target root, for the steps that install and enable units
 * (private to installer/). */
#ifndef TB_INSTALLER_UNITS_H
#define TB_INSTALLER_UNITS_H

#include <stdbool.h>

#include "installer/setup.h"

/* systemctl [--root=ROOT] VERB UNIT: 0 or the tool's status (r->msg says why). */
int units_systemctl(struct setup *s, struct step_run *r, const char *verb, const char *unit);
/* The first word systemctl [--root=ROOT] VERB UNIT prints is want
 * ("is-enabled" -> "enabled", "is-active" -> "active"); allowed in a plan. */
bool units_say(struct setup *s, const char *verb, const char *unit, const char *want);
/* systemd runs this system (sd_booted(3)): only then is PID 1 told of changes. */
bool units_systemd_running(const struct setup *s);

#endif
