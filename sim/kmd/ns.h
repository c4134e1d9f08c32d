/* Placing the simulated box's files where the kernel's would be (sim/kmd). */
#ifndef TB_SIM_KMD_NS_H
#define TB_SIM_KMD_NS_H

#include <stddef.h>

/* Move the calling process into a private mount namespace in which
 * STATE/sys/{devices,class,bus} appear at /sys/... and a minimal /dev holds
 * the host's basic devices plus every file under STATE/dev.  Call it before
 * starting threads.  Returns 0, or a negative errno with a message in err. */
int simns_enter(const char *state_dir, char *err, size_t errlen);

#endif
