/* The simulated box's state directory (sim/box). */
#ifndef TB_SIM_BOX_STATE_H
#define TB_SIM_BOX_STATE_H

#include <stddef.h>
#include <stdint.h>

/* The default state directory: $TB_SIM_STATE, else /run/tb-sim as root,
 * else $XDG_RUNTIME_DIR/tb-sim, else /tmp/tb-sim-UID. 0 or -ENAMETOOLONG. */
int sim_state_default(char *out, size_t len);

/* The daemon's lock, DIR/simd.lock: a POSIX record lock tb-simd holds for
 * its life, so the kernel drops it when the daemon dies however it dies.
 * sim_state_lock takes it: the open descriptor (kept open by the caller), or
 * -EBUSY with *holder the pid that holds it, or another negative errno.
 * sim_state_holder: the pid holding it, 0 if none, -EBUSY if held by a
 * process of another pid namespace, or another negative errno; never
 * call it in the daemon (closing any descriptor of the file drops a record
 * lock). */
#define SIM_LOCK_NAME "simd.lock"
int sim_state_lock(const char *dir, int *holder);
int sim_state_holder(const char *dir);

/* A command line's number (tb sim, tb-simd): decimal digits only, from lo to
 * hi; 0 or -EINVAL ("x", "3abc", "1e99", " 3", "+3" and out of range). */
int sim_parse_int(const char *s, long lo, long hi, int *out);

/* Each drive's size (tb sim start --drive-size): bytes, or with a K, M, G or
 * T suffix (powers of 1024); a whole number of MiB from the minimum to the
 * maximum.  0 or -EINVAL. */
#define SIM_BOX_DRIVES 5		/* four data drives and the boot drive */
#define SIM_DRIVE_DEFAULT_BYTES (256ull << 20)
#define SIM_DRIVE_MIN_BYTES (16ull << 20)
#define SIM_DRIVE_MAX_BYTES (16ull << 40)
int sim_parse_drive_size(const char *s, uint64_t *out);

/* The order the kernel probes the drives in (tb sim start --drive-order):
 * SIM_BOX_DRIVES slot numbers, each once, separated by commas ("4,2,0,1,3":
 * the boot drive, slot 4, becomes nvme0).  order[instance] = slot; 0 or
 * -EINVAL. */
int sim_parse_drive_order(const char *s, int order[SIM_BOX_DRIVES]);

#endif
