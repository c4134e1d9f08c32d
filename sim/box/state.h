/* The simulated box's state directory (sim/box). */
#ifndef TB_SIM_BOX_STATE_H
#define TB_SIM_BOX_STATE_H

#include <stddef.h>

/* The default state directory: $TB_SIM_STATE, else /run/tb-sim as root,
 * else $XDG_RUNTIME_DIR/tb-sim, else /tmp/tb-sim-UID. 0 or -ENAMETOOLONG. */
int sim_state_default(char *out, size_t len);

#endif
