/* The box's sensors and fans, from the thermal plant (sim/plant):
 *
 *  - each GPU's amdgpu hwmon (edge, junction and memory temperatures,
 *    board power and its cap, fan speed, pwm1) and gpu_od/fan_ctrl/fan_curve.
 *    As on a 7900 XTX (SMU 13.0.0) the power-management firmware owns the
 *    fan: manual pwm1 is refused, and a 5-point curve on the junction
 *    temperature is the way to set it;
 *  - the CPU's k10temp (Tctl), each NVMe drive's composite temperature;
 *  - the chassis fans on the board's Super I/O (nct6798): pwmN in manual
 *    mode, the board's own curve on the CPU temperature in SmartFan mode.
 *
 * The work the GPUs' queues do drives their power; power drives the plant. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kfd_ioctl.h>

#include "sim/kmd/kmd.h"
#include "sim/box/pci.h"
#include "sim/box/sensors.h"
#include "sim/box/drives.h"
#include "sim/plant/plant.h"

enum { CURVE_POINTS = 5, MAX_CHASSIS = 16, MAX_ATTRS = 512 };
enum { CURVE_T_MIN = 25, CURVE_T_MAX = 100, CURVE_S_MIN = 15, CURVE_S_MAX = 100 };
enum { CAP_DEFAULT_UW = 355000000, CAP_MIN_UW = 320000000, CAP_MAX_UW = 402000000, IDLE_MW = 22000 };
enum { NVME_DRIVES = 4 };

struct gpu_fan {
	int temp[CURVE_POINTS], speed[CURVE_POINTS];	/* committed curve (°C, %) */
	int staged_temp[CURVE_POINTS], staged_speed[CURVE_POINTS];
	bool custom;					/* a committed user curve */
	bool runaway;					/* injected: cooling lost, full power */
	bool frozen;					/* injected: temperatures stop updating */
	bool lost;					/* injected: the junction sensor is gone */
	bool throttling;				/* the junction is at its limit */
	uint64_t throttle_count;			/* the SMU's throttling interrupts */
	long cap_uw;
	uint64_t last_busy_ns;
	char hwmon[400];
};

static struct {
	pthread_mutex_t lock;
	struct plant *plant;
	struct gpu_fan gpu[SIM_MAX_GPUS];
	int nchassis;
	int chassis_mode[MAX_CHASSIS];			/* pwmN_enable */
	int chassis_pwm[MAX_CHASSIS];			/* what was written to pwmN */
	char cpu_hwmon[256], nvme_hwmon[NVME_DRIVES][256], sio_hwmon[256];
	struct sim_attr attrs[MAX_ATTRS];
	int nattrs;
	double ambient_c;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .ambient_c = 25.0 };

/* The PMFW's own curve (°C on the junction, % duty), used until a process
 * commits one and after a reset; zero-rpm below 45 °C as RDNA3 boards do. */
static const int auto_temp[CURVE_POINTS] = { 45, 60, 75, 90, 100 };
static const int auto_speed[CURVE_POINTS] = { 15, 30, 45, 70, 100 };


/* ---- writable attributes ----------------------------------------------------------------------- */

int attr_register(struct sim_box *b, const char *dir, const char *name, sim_attr_store store, void *obj, int arg)
{
	(void)b;
	if (S.nattrs >= MAX_ATTRS)
		return -ENOSPC;
	struct sim_attr *a = &S.attrs[S.nattrs++];
	snprintf(a->rel, sizeof a->rel, "%s/%s", dir, name);
	a->store = store;
	a->obj = obj;
	a->arg = arg;
	return 0;
}

int attr_lookup(struct sim_box *b, const char *sys_path, struct sim_attr **out)
{
	if (strncmp(sys_path, "/sys/", 5) != 0)
		return -ENOENT;
	const char *rel = sys_path + 5;
	for (int i = 0; i < S.nattrs; i++)
		if (!strcmp(S.attrs[i].rel, rel)) {
			*out = &S.attrs[i];
			return 0;
		}
	/* one of the box's own files (never empty), which has no store */
	char path[PATH_MAX + 400];
	struct stat st;
	snprintf(path, sizeof path, "%s/sys/%s", b->state, rel);
	/* read-only files refuse writers; writable ones with no store (the BARs'
	 * resourceN files) the process opens and maps itself */
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && !(st.st_mode & 0200))
		return -EACCES;
	return -ENOENT;
}

long attr_write(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	char text[512];
	if (len >= sizeof text)
		return -EINVAL;
	memcpy(text, buf, len);
	text[len] = '\0';
	pthread_mutex_lock(&S.lock);
	int rc = a->store(b, a, text, len);
	pthread_mutex_unlock(&S.lock);
	return rc < 0 ? rc : (long)len;
}

/* A whole decimal integer, as the kernel's kstrtol takes it (one trailing
 * newline allowed). */
static int parse_long(const char *s, long *v)
{
	char *end;
	errno = 0;
	long x = strtol(s, &end, 0);
	if (end == s || errno)
		return -EINVAL;
	if (*end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*v = x;
	return 0;
}

/* ---- GPU fans and power ------------------------------------------------------------------------- */

static int curve_duty(const int *temp, const int *speed, double t)
{
	double pct;
	if (t <= temp[0])
		pct = speed[0];
	else if (t >= temp[CURVE_POINTS - 1])
		pct = speed[CURVE_POINTS - 1];
	else {
		int i = 0;
		while (i < CURVE_POINTS - 2 && t > temp[i + 1])
			i++;
		double span = temp[i + 1] - temp[i];
		pct = span <= 0 ? speed[i + 1] : speed[i] + (speed[i + 1] - speed[i]) * (t - temp[i]) / span;
	}
	return (int)lround(pct * 255.0 / 100.0);
}

static void write_fan_curve(struct sim_box *b, struct sim_gpu *g)
{
	struct gpu_fan *f = &S.gpu[g->index];
	char text[512];
	size_t n = (size_t)snprintf(text, sizeof text, "OD_FAN_CURVE:\n");
	for (int i = 0; i < CURVE_POINTS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "%d: %dC %d%%\n", i, f->staged_temp[i], f->staged_speed[i]);
	snprintf(text + n, sizeof text - n, "OD_RANGE:\nFAN_CURVE(hotspot temp): %dC %dC\nFAN_CURVE(fan speed): %d%% %d%%\n",
		 CURVE_T_MIN, CURVE_T_MAX, CURVE_S_MIN, CURVE_S_MAX);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/gpu_od/fan_ctrl", g->sysdir);
	sysfs_write(b, dir, "fan_curve", "%s", text);
}

static void reset_curve(struct gpu_fan *f)
{
	memcpy(f->temp, auto_temp, sizeof f->temp);
	memcpy(f->speed, auto_speed, sizeof f->speed);
	memcpy(f->staged_temp, auto_temp, sizeof f->temp);
	memcpy(f->staged_speed, auto_speed, sizeof f->speed);
	f->custom = false;
}

/* amdgpu's fan_curve grammar: "P T S" stages point P, "c" commits the
 * staged curve, "r" restores the firmware's. */
static int store_fan_curve(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)len;
	struct sim_gpu *g = a->obj;
	struct gpu_fan *f = &S.gpu[g->index];
	char cmd;
	int p, t, s;
	char extra;
	if (sscanf(buf, " %c %c", &cmd, &extra) == 1 && (cmd == 'c' || cmd == 'r')) {
		if (cmd == 'c') {
			for (int i = 1; i < CURVE_POINTS; i++)
				if (f->staged_temp[i] < f->staged_temp[i - 1])
					return -EINVAL;	/* the firmware takes rising temperatures only */
			memcpy(f->temp, f->staged_temp, sizeof f->temp);
			memcpy(f->speed, f->staged_speed, sizeof f->speed);
			f->custom = true;
		} else {
			reset_curve(f);
		}
		write_fan_curve(b, g);
		return 0;
	}
	if (sscanf(buf, "%d %d %d %c", &p, &t, &s, &extra) != 3 || p < 0 || p >= CURVE_POINTS || t < CURVE_T_MIN ||
	    t > CURVE_T_MAX || s < CURVE_S_MIN || s > CURVE_S_MAX)
		return -EINVAL;
	f->staged_temp[p] = t;
	f->staged_speed[p] = s;
	write_fan_curve(b, g);
	return 0;
}

/* The PMFW owns the fan on SMU 13.0.0: only automatic control is taken. */
static int store_pwm1_enable(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)b, (void)a, (void)len;
	long v;
	if (parse_long(buf, &v) < 0)
		return -EINVAL;
	return v == 2 ? 0 : -EOPNOTSUPP;
}

static int store_pwm1(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)b, (void)a, (void)len;
	long v;
	if (parse_long(buf, &v) < 0 || v < 0 || v > 255)
		return -EINVAL;
	return -EINVAL;	/* amdgpu: "manual fan speed control should be enabled first" */
}

/* kstrtou32(s, 10): an optional '+', decimal digits, one optional trailing
 * newline; -ERANGE past 32 bits. */
static int parse_u32_dec(const char *s, unsigned long *v)
{
	if (*s == '+')
		s++;
	unsigned long long x = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		x = x * 10 + (unsigned)(*p - '0');
		if (x > UINT32_MAX)
			return -ERANGE;
	}
	if (p == s || (*p == '\n' ? p[1] != '\0' : *p != '\0'))
		return -EINVAL;
	*v = (unsigned long)x;
	return 0;
}

/* amdgpu_hwmon_set_power_cap: microwatts truncated to whole watts, which
 * smu_set_power_limit refuses with EINVAL outside its min..max (watts); the
 * cap then reads back in whole watts. */
static int store_power_cap(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)len;
	struct sim_gpu *g = a->obj;
	unsigned long uw;
	int rc = parse_u32_dec(buf, &uw);
	if (rc < 0)
		return rc;
	long w = (long)(uw / 1000000);
	if (w < CAP_MIN_UW / 1000000 || w > CAP_MAX_UW / 1000000)
		return -EINVAL;
	S.gpu[g->index].cap_uw = w * 1000000;
	sysfs_write(b, S.gpu[g->index].hwmon, "power1_cap", "%ld\n", w * 1000000);
	return 0;
}

/* Board power from the share of time the GPU's queues were busy. */
static double gpu_power_w(struct sim_gpu *g, double dt)
{
	struct gpu_fan *f = &S.gpu[g->index];
	uint64_t busy = gpu_busy_ns(g);
	double share = dt > 0 ? (double)(busy - f->last_busy_ns) / (dt * 1e9) : 0;
	f->last_busy_ns = busy;
	if (share > 1)
		share = 1;
	if (share < 0)
		share = 0;
	atomic_store(&g->busy_permille, (int)(share * 1000));
	double cap = (double)f->cap_uw / 1e6, idle = IDLE_MW / 1000.0;
	if (atomic_load(&g->fallen_off_bus))
		return 0;
	return f->runaway ? cap : idle + share * (cap - idle);
}

/* ---- the chassis fans (Super I/O) ------------------------------------------------------------------ */

static int store_chassis_pwm(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)len;
	long v;
	if (parse_long(buf, &v) < 0 || v < 0 || v > 255)
		return -EINVAL;
	S.chassis_pwm[a->arg] = (int)v;
	char name[32];
	snprintf(name, sizeof name, "pwm%d", a->arg + 1);
	sysfs_write(b, S.sio_hwmon, name, "%ld\n", v);
	return 0;
}

/* nct6775: 0 full speed, 1 manual, 2 thermal cruise, 5 SmartFan IV. */
static int store_chassis_mode(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)len;
	long v;
	if (parse_long(buf, &v) < 0 || (v != 0 && v != 1 && v != 2 && v != 5))
		return -EINVAL;
	S.chassis_mode[a->arg] = (int)v;
	char name[32];
	snprintf(name, sizeof name, "pwm%d_enable", a->arg + 1);
	sysfs_write(b, S.sio_hwmon, name, "%ld\n", v);
	return 0;
}

/* The board's SmartFan curve on the CPU temperature. */
static int board_auto_pwm(double cpu_c)
{
	static const int t[CURVE_POINTS] = { 40, 55, 70, 80, 90 };
	static const int s[CURVE_POINTS] = { 30, 40, 60, 80, 100 };
	return curve_duty(t, s, cpu_c);
}

/* ---- building the files ------------------------------------------------------------------------------ */

static int hwmon_dir(struct sim_box *b, const char *device_dir, int n, char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/hwmon/hwmon%d", device_dir, n);
	char cls[32];
	snprintf(cls, sizeof cls, "hwmon%d", n);
	int rc = sysfs_write(b, out, "name", "%s\n", name);
	rc |= sysfs_link(b, "class/hwmon", cls, out);
	rc |= sysfs_link(b, out, "device", device_dir);
	rc |= sysfs_link(b, out, "subsystem", "class/hwmon");
	return rc ? -EIO : 0;
}

static int rw(struct sim_box *b, const char *dir, const char *name, sim_attr_store store, void *obj, int arg,
	      const char *fmt, long v)
{
	int rc = sysfs_write(b, dir, name, fmt, v);
	char path[PATH_MAX + 400];
	snprintf(path, sizeof path, "%s/sys/%s/%s", b->state, dir, name);
	chmod(path, 0644);
	return rc | attr_register(b, dir, name, store, obj, arg);
}

static int gpu_files(struct sim_box *b, struct sim_gpu *g)
{
	struct gpu_fan *f = &S.gpu[g->index];
	reset_curve(f);
	f->cap_uw = CAP_DEFAULT_UW;
	int rc = hwmon_dir(b, g->sysdir, g->index, f->hwmon, sizeof f->hwmon, "amdgpu");
	const char *h = f->hwmon;
	static const char *const labels[3] = { "edge", "junction", "mem" };
	static const char *const kinds[3] = { "edge", "junction", "mem" };
	char comp[8];
	snprintf(comp, sizeof comp, "gpu%d", g->index);
	for (int i = 0; i < 3; i++) {
		char name[32];
		double limit = 100;
		plant_temp_limit(S.plant, comp, kinds[i], &limit);
		snprintf(name, sizeof name, "temp%d_label", i + 1);
		rc |= sysfs_write(b, h, name, "%s\n", labels[i]);
		snprintf(name, sizeof name, "temp%d_crit", i + 1);
		rc |= sysfs_write(b, h, name, "%d\n", (int)(limit * 1000));
		snprintf(name, sizeof name, "temp%d_crit_hyst", i + 1);
		rc |= sysfs_write(b, h, name, "%d\n", -273150);
		snprintf(name, sizeof name, "temp%d_emergency", i + 1);
		rc |= sysfs_write(b, h, name, "%d\n", (int)(limit + 5) * 1000);
	}
	rc |= sysfs_write(b, h, "power1_label", "PPT\n");
	rc |= rw(b, h, "power1_cap", store_power_cap, g, 0, "%ld\n", CAP_DEFAULT_UW);
	rc |= sysfs_write(b, h, "power1_cap_default", "%d\n", CAP_DEFAULT_UW);
	rc |= sysfs_write(b, h, "power1_cap_min", "%d\n", CAP_MIN_UW);
	rc |= sysfs_write(b, h, "power1_cap_max", "%d\n", CAP_MAX_UW);
	int fan = g->index;
	rc |= sysfs_write(b, h, "fan1_min", "%d\n", plant_fan_min_rpm(S.plant, fan));
	rc |= sysfs_write(b, h, "fan1_max", "%d\n", plant_fan_max_rpm(S.plant, fan));
	rc |= rw(b, h, "pwm1_enable", store_pwm1_enable, g, 0, "%ld\n", 2);
	rc |= rw(b, h, "pwm1", store_pwm1, g, 0, "%ld\n", 255);
	rc |= sysfs_write(b, h, "pwm1_min", "0\n");
	rc |= sysfs_write(b, h, "pwm1_max", "255\n");
	char od[400];
	snprintf(od, sizeof od, "%s/gpu_od/fan_ctrl", g->sysdir);
	rc |= rw(b, od, "fan_curve", store_fan_curve, g, 0, "%ld\n", 0);
	write_fan_curve(b, g);
	return rc ? -EIO : 0;
}

/* A PCI function for a sensor's device: the CPU's data fabric (k10temp
 * binds to 00:18.3) and the NVMe controllers behind their root ports.
 * secondary: a bridge's bus below it (0: not a bridge). */
static int sensor_pci_function(struct sim_box *b, const char *dir, const char *bdf, uint16_t vendor, uint16_t device,
			       uint32_t class_code, const char *driver, bool pcie, uint8_t secondary)
{
	struct pci_fn f;
	memset(&f, 0, sizeof f);
	unsigned bus, dev, fn;
	sscanf(bdf, "0000:%x:%x.%x", &bus, &dev, &fn);
	snprintf(f.bdf, sizeof f.bdf, "%s", bdf);
	f.bus = (uint8_t)bus;
	f.dev = (uint8_t)dev;
	f.fn = (uint8_t)fn;
	f.vendor = vendor;
	f.device = device;
	f.subsys_vendor = vendor;
	f.subsys_device = device;
	f.class_code = class_code;
	f.is_pcie = pcie;
	f.link_speed = f.max_link_speed = 16;
	f.link_width = f.max_link_width = 4;
	f.pcie_type = secondary ? 4 : 0;	/* root port or endpoint */
	f.bridge = secondary != 0;
	f.secondary = f.subordinate = secondary;
	f.numa_node = bus >= 0x80;
	snprintf(f.driver, sizeof f.driver, "%s", driver);
	return sysfs_pci_function(b, dir, &f);
}

static int host_sensor_files(struct sim_box *b)
{
	int n = b->ngpus, rc = 0;
	const char *df = "devices/pci0000:00/0000:00:18.3";
	rc |= sensor_pci_function(b, df, "0000:00:18.3", 0x1022, 0x14f3, 0x060000, "k10temp", false, 0);
	rc |= sensor_pci_function(b, "devices/pci0000:c0/0000:c0:00.0", "0000:c0:00.0", 0x1022, 0x14a4, 0x060000, "",
				  false, 0);
	rc |= hwmon_dir(b, df, n++, S.cpu_hwmon, sizeof S.cpu_hwmon, "k10temp");
	rc |= sysfs_write(b, S.cpu_hwmon, "temp1_label", "Tctl\n");
	for (int i = 0; i < NVME_DRIVES && i < plant_nvme_count(S.plant); i++) {
		char bdf[16], dir[128];
		snprintf(bdf, sizeof bdf, "0000:%02x:00.0", 0xc1 + i);
		char port[16], port_dir[64];
		snprintf(port, sizeof port, "0000:c0:01.%d", i + 1);
		snprintf(port_dir, sizeof port_dir, "devices/pci0000:c0/%s", port);
		rc |= sensor_pci_function(b, port_dir, port, 0x1022, 0x14ab, 0x060400, "pcieport", true, (uint8_t)(0xc1 + i));
		snprintf(dir, sizeof dir, "%s/%s", port_dir, bdf);
		rc |= sensor_pci_function(b, dir, bdf, 0x144d, 0xa80c, 0x010802, "nvme", true, 0);
		rc |= hwmon_dir(b, dir, n++, S.nvme_hwmon[i], sizeof S.nvme_hwmon[i], "nvme");
		rc |= sysfs_write(b, S.nvme_hwmon[i], "temp1_label", "Composite\n");
		rc |= sysfs_write(b, S.nvme_hwmon[i], "temp1_crit", "%d\n", 84850);
		rc |= sysfs_write(b, S.nvme_hwmon[i], "temp1_max", "%d\n", 81850);
	}
	/* the board's Super I/O, a platform device as the nct6775 driver makes it */
	const char *sio = "devices/platform/nct6775.656";
	rc |= sysfs_write(b, sio, "modalias", "platform:nct6775\n");
	rc |= sysfs_link(b, sio, "subsystem", "bus/platform");
	rc |= sysfs_link(b, "bus/platform/devices", "nct6775.656", sio);
	rc |= hwmon_dir(b, sio, n++, S.sio_hwmon, sizeof S.sio_hwmon, "nct6798");
	S.nchassis = plant_fan_count(S.plant) - PLANT_GPUS;
	if (S.nchassis > MAX_CHASSIS)
		S.nchassis = MAX_CHASSIS;
	for (int i = 0; i < S.nchassis; i++) {
		char name[32];
		S.chassis_mode[i] = 5;
		S.chassis_pwm[i] = 255;
		snprintf(name, sizeof name, "pwm%d", i + 1);
		rc |= rw(b, S.sio_hwmon, name, store_chassis_pwm, NULL, i, "%ld\n", 255);
		snprintf(name, sizeof name, "pwm%d_enable", i + 1);
		rc |= rw(b, S.sio_hwmon, name, store_chassis_mode, NULL, i, "%ld\n", 5);
		snprintf(name, sizeof name, "fan%d_min", i + 1);
		rc |= sysfs_write(b, S.sio_hwmon, name, "%d\n", plant_fan_min_rpm(S.plant, PLANT_GPUS + i));
	}
	return rc ? -EIO : 0;
}

int sensors_build(struct sim_box *b, const char *plant_config, char *err, size_t errlen)
{
	S.plant = plant_load(plant_config, err, errlen);
	if (!S.plant)
		return -EINVAL;
	int rc = 0;
	for (int i = 0; i < b->ngpus && rc == 0; i++)
		rc = gpu_files(b, &b->gpu[i]);
	if (rc == 0)
		rc = host_sensor_files(b);
	if (rc == 0)
		sensors_tick(b, 0);
	if (rc < 0)
		snprintf(err, errlen, "cannot write the sensor files in %s/sys", b->state);
	return rc;
}

/* ---- the running box ------------------------------------------------------------------------------- */

static int millideg(const char *comp, const char *kind)
{
	double c = 0;
	plant_temp(S.plant, comp, kind, &c);
	return (int)lround(c * 1000);
}

/* the SMU holds the board at its power limit: drawing this share of the
 * cap or more counts as power-limited */
#define PPT_LIMITED_PERMILLE 980

/* What gpu_metrics' throttle_status shows: the hotspot throttler while the
 * junction is held at its limit, PPT0 while the power is held at the cap. */
static void throttler_status(struct sim_gpu *g, const struct gpu_fan *f)
{
	unsigned bits = 0;
	if (f->throttling)
		bits |= 1u << THROTTLER_TEMP_HOTSPOT_BIT;
	if ((long)atomic_load(&g->power_mw) * 1000 >= f->cap_uw / 1000 * PPT_LIMITED_PERMILLE)
		bits |= 1u << THROTTLER_PPT0_BIT;
	atomic_store(&g->throttler_status, bits);
}

/* The SMU throttles a junction at its limit and interrupts the driver,
 * which tells KFD's SMI listeners (kfd_smi_event_update_thermal_throttling:
 * the throttler bits and the interrupt count).  Throttling ends 5 K below. */
static void thermal_throttle(struct sim_gpu *g, struct gpu_fan *f, const char *comp, int junction_mc)
{
	double limit = 110;
	plant_temp_limit(S.plant, comp, "junction", &limit);
	if (!f->throttling && junction_mc >= (int)(limit * 1000)) {
		f->throttling = true;
		f->throttle_count++;
		klog("amdgpu %s: thermal throttling: hotspot %.1f C", g->bdf, junction_mc / 1000.0);
		kfd_smi_event(g, 0, KFD_SMI_EVENT_THERMAL_THROTTLE, "%llx:%llx\n", 1ull << SMU_THROTTLER_TEMP_HOTSPOT_BIT,
			      (unsigned long long)f->throttle_count);
	} else if (f->throttling && junction_mc < (int)((limit - 5) * 1000)) {
		f->throttling = false;
	}
}

static void publish(struct sim_box *b)
{
	for (int i = 0; i < b->ngpus; i++) {
		struct sim_gpu *g = &b->gpu[i];
		const char *h = S.gpu[i].hwmon;
		char comp[8];
		snprintf(comp, sizeof comp, "gpu%d", i);
		int e = millideg(comp, "edge"), j = millideg(comp, "junction"), m = millideg(comp, "mem");
		atomic_store(&g->temp_edge_mc, e);
		atomic_store(&g->temp_junction_mc, j);
		atomic_store(&g->temp_mem_mc, m);
		thermal_throttle(g, &S.gpu[i], comp, j);
		throttler_status(g, &S.gpu[i]);
		/* a frozen sensor keeps its last readings; a lost one has no file */
		if (!S.gpu[i].frozen) {
			sysfs_write(b, h, "temp1_input", "%d\n", e);
			if (!S.gpu[i].lost)
				sysfs_write(b, h, "temp2_input", "%d\n", j);
			sysfs_write(b, h, "temp3_input", "%d\n", m);
		}
		sysfs_write(b, h, "power1_average", "%lld\n", (long long)atomic_load(&g->power_mw) * 1000);
		atomic_store(&g->fan_rpm, plant_fan_rpm(S.plant, i));
		sysfs_write(b, h, "fan1_input", "%d\n", plant_fan_rpm(S.plant, i));
		sysfs_write(b, h, "pwm1", "%d\n", plant_fan_pwm(S.plant, i));
	}
	sysfs_write(b, S.cpu_hwmon, "temp1_input", "%d\n", millideg("cpu", "tctl"));
	for (int i = 0; i < NVME_DRIVES && i < plant_nvme_count(S.plant); i++) {
		char comp[8];
		snprintf(comp, sizeof comp, "nvme%d", i);
		int mc = millideg(comp, "composite");
		if (i < b->ndrives) {
			atomic_store(&b->drive[i].temp_mc, mc);
			mc = drive_temperature_mc(&b->drive[i]);
		}
		sysfs_write(b, S.nvme_hwmon[i], "temp1_input", "%d\n", mc);
	}
	/* the boot drive sits beside the data drives: their air, their temperature */
	for (int i = NVME_DRIVES; i < b->ndrives; i++)
		atomic_store(&b->drive[i].temp_mc, millideg("nvme0", "composite"));
	for (int i = 0; i < S.nchassis; i++) {
		char name[32];
		snprintf(name, sizeof name, "fan%d_input", i + 1);
		sysfs_write(b, S.sio_hwmon, name, "%d\n", plant_fan_rpm(S.plant, PLANT_GPUS + i));
	}
}

void sensors_tick(struct sim_box *b, double dt)
{
	pthread_mutex_lock(&S.lock);
	struct plant_inputs in = { .ambient_c = S.ambient_c, .cpu_w = 60, .nvme_w = 4 * 3.5 };
	for (int i = 0; i < b->ngpus && i < PLANT_GPUS; i++) {
		in.gpu_w[i] = gpu_power_w(&b->gpu[i], dt);
		atomic_store(&b->gpu[i].power_mw, (int)(in.gpu_w[i] * 1000));
	}
	/* firmware fan control: each GPU on its curve, the board on the CPU */
	for (int i = 0; i < b->ngpus && i < PLANT_GPUS; i++) {
		double j = 25;
		char comp[8];
		snprintf(comp, sizeof comp, "gpu%d", i);
		plant_temp(S.plant, comp, "junction", &j);
		const struct gpu_fan *f = &S.gpu[i];
		int duty = curve_duty(f->temp, f->speed, j);
		if (!f->custom && j < auto_temp[0])
			duty = 0;	/* zero-rpm while cool */
		plant_fan_set_pwm(S.plant, i, duty);
	}
	double cpu = 40;
	plant_temp(S.plant, "cpu", "tctl", &cpu);
	for (int i = 0; i < S.nchassis; i++) {
		int mode = S.chassis_mode[i];
		int duty = mode == 0 ? 255 : mode == 1 ? S.chassis_pwm[i] : board_auto_pwm(cpu);
		plant_fan_set_pwm(S.plant, PLANT_GPUS + i, duty);
	}
	if (dt > 0)
		plant_step(S.plant, dt * (b->plant_speed > 0 ? b->plant_speed : 1), &in);
	publish(b);
	pthread_mutex_unlock(&S.lock);
}

int sensors_fan_stall(struct sim_box *b, const char *fan, int stalled)
{
	(void)b;
	pthread_mutex_lock(&S.lock);
	int rc = -ENOENT;
	for (int i = 0; i < plant_fan_count(S.plant); i++)
		if (!strcmp(plant_fan_name(S.plant, i), fan))
			rc = plant_fan_stall(S.plant, i, stalled);
	pthread_mutex_unlock(&S.lock);
	return rc;
}

void sensors_runaway(struct sim_box *b, int gpu, bool on)
{
	char fan[16];
	snprintf(fan, sizeof fan, "gpu%d", gpu);
	pthread_mutex_lock(&S.lock);
	S.gpu[gpu].runaway = on;
	pthread_mutex_unlock(&S.lock);
	sensors_fan_stall(b, fan, on);
}

int sensors_sensor_fault(struct sim_box *b, int gpu, const char *kind)
{
	pthread_mutex_lock(&S.lock);
	int rc = 0;
	if (!strcmp(kind, "sensor-freeze"))
		S.gpu[gpu].frozen = true;
	else if (!strcmp(kind, "sensor-loss")) {
		S.gpu[gpu].lost = true;
		char path[PATH_MAX + 512];
		snprintf(path, sizeof path, "%s/sys/%s/temp2_input", b->state, S.gpu[gpu].hwmon);
		unlink(path);
	} else if (!strcmp(kind, "clear")) {
		S.gpu[gpu].frozen = S.gpu[gpu].lost = false;
	} else {
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&S.lock);
	return rc;
}

void sensors_status_json(struct sim_box *b, char *out, size_t len)
{
	(void)b;
	pthread_mutex_lock(&S.lock);
	snprintf(out, len, "{\"dba\":%.1f,\"seconds\":%.1f}", plant_dba(S.plant), plant_time(S.plant));
	pthread_mutex_unlock(&S.lock);
}
