/* The GPUs' power caps for one wall outlet (private to installer/): the
 * budget arithmetic, the caps file (/etc/tb/power.conf) and amdgpu's hwmon
 * power files.  Shared by the setup step "power" and `tb power`.
 *
 * amdgpu's hwmon (drivers/gpu/drm/amd/pm/amdgpu_pm.c): power1_cap,
 * power1_cap_min, power1_cap_max, power1_cap_default and power1_average, in
 * microwatts.  A write to power1_cap is parsed with kstrtou32 (decimal),
 * truncated to whole watts and refused with EINVAL outside the SMU's
 * min..max, so caps are kept in whole watts here.
 *
 * GPUs are named by PCI address, never by cardN or hwmonN: those are
 * numbered in probe order and change when a card is added, moved or fails. */
#ifndef TB_INSTALLER_POWER_H
#define TB_INSTALLER_POWER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum { POWER_MAX_GPUS = 64, POWER_PCI_LEN = 13 /* "0000:03:00.0" */ };

/* What one outlet gives the GPUs. */
struct power_budget {
	unsigned volts, amps;		/* the outlet's rating: 120 V, 15 A */
	unsigned continuous_pct;	/* share of the rating a continuous load may take (NEC: 80%) */
	unsigned host_w;		/* the host's own draw at the wall, at its peak */
	unsigned psu_efficiency_pct;	/* DC out / AC in of the power supply at load */
};

/* The outlet's continuous watts: volts x amps x continuous share. */
long power_outlet_w(const struct power_budget *b);
/* What the GPUs may draw together (DC, the side power1_cap limits): the
 * outlet's continuous watts less the host's, times the PSU's efficiency.
 * Negative when the host alone takes more than the outlet. */
long power_gpus_w(const struct power_budget *b);

/* One card's range, whole watts (min rounded up, max down: the kernel
 * truncates a written cap to watts). */
struct power_range {
	long min_w, max_w;
};
/* Share budget_w among n cards: the highest common level L such that the
 * caps clamp(L, min, max) add up to at most budget_w (a card whose maximum
 * is below L keeps its maximum and leaves the rest to the others).  caps[i]
 * and, where L was clamped, clamped[i] = -1 (raised to the card's minimum)
 * or +1 (held at its maximum), else 0.  0, or -ERANGE when even the minimums
 * add up to more than budget_w (nothing is set), -EINVAL on a bad range. */
int power_share(long budget_w, const struct power_range *r, size_t n, long *caps, int *clamped);

/* ---- hwmon ---- */
struct power_gpu {
	char pci[POWER_PCI_LEN];
	char hwmon[PATH_MAX];		/* its amdgpu hwmon directory (found now, never stored) */
	long long cap_uw, min_uw, max_uw, default_uw;
	long long average_uw;		/* power1_average: the board's draw, -1 when unreadable */
};
/* Every GPU amdgpu drives that has a power cap (/sys/bus/pci/drivers/amdgpu),
 * sorted by PCI address.  The count, or negative errno with why. */
int power_gpus_find(struct power_gpu *g, size_t max, char *why, size_t len);
/* One GPU by PCI address, or by its hwmon's kernel name (hwmonN, as a udev
 * event names it; resolved to the PCI address now).  0 or negative errno. */
int power_gpu_by_pci(const char *pci, struct power_gpu *g, char *why, size_t len);
int power_gpu_by_hwmon(const char *name, struct power_gpu *g, char *why, size_t len);
/* The card's range in whole watts. */
struct power_range power_gpu_range(const struct power_gpu *g);
/* Write cap_w to power1_cap and read it back: 0, -EINVAL when the kernel
 * refused it, -EIO when it reads back otherwise (why says what it read). */
int power_cap_write(struct power_gpu *g, long cap_w, char *why, size_t len);
/* "0000:03:00.0": domain:bus:device.function in lower-case hex. */
bool power_pci_valid(const char *s);

/* ---- the caps file ---- */
struct power_conf {
	long outlet_w, host_w, psu_efficiency_pct, gpus_w;
	size_t n;
	struct {
		char pci[POWER_PCI_LEN];
		long cap_w;
		int line;
	} gpu[POWER_MAX_GPUS];
};
enum { POWER_CONF_MAX = 64 * 1024 };
/* Read path strictly: "FILE:LINE: reason" in why on any error; a file whose
 * caps add up to more than its gpus_w is refused.  0 or negative errno. */
int power_conf_load(const char *path, struct power_conf *c, char *why, size_t len);
/* The file's text (malloc'd), as power_conf_load reads it. */
char *power_conf_format(const struct power_conf *c, const char *source);
/* The entry for pci, or NULL. */
const long *power_conf_cap(const struct power_conf *c, const char *pci);

#endif
