/* The GPUs' power caps for one outlet: budget, shares, hwmon, caps file
 * (see power.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer/power.h"
#include "util/tbutil.h"

#define AMDGPU_DRIVER_DIR "/sys/bus/pci/drivers/amdgpu"
#define HWMON_CLASS_DIR "/sys/class/hwmon"
enum { UW_PER_W = 1000000, SYSFS_VALUE_MAX = 64, CONF_LINE_MAX = 512 };
/* No GPU takes more than this; a larger figure in a file is a typo. */
enum { CAP_W_LIMIT = 100000 };

/* ---- budget ---- */

long power_outlet_w(const struct power_budget *b)
{
	return (long)b->volts * (long)b->amps * (long)b->continuous_pct / 100;
}

long power_gpus_w(const struct power_budget *b)
{
	long left = power_outlet_w(b) - (long)b->host_w;
	return left < 0 ? left : left * (long)b->psu_efficiency_pct / 100;
}

static long clamp_long(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static long shares_at(long level, const struct power_range *r, size_t n)
{
	long sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += clamp_long(level, r[i].min_w, r[i].max_w);
	return sum;
}

int power_share(long budget_w, const struct power_range *r, size_t n, long *caps, int *clamped)
{
	long top = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].min_w < 0 || r[i].max_w < r[i].min_w || r[i].max_w > CAP_W_LIMIT)
			return -EINVAL;
		if (r[i].max_w > top)
			top = r[i].max_w;
	}
	if (shares_at(0, r, n) > budget_w)
		return -ERANGE;
	/* the total grows with the level: the highest level within the budget */
	long lo = 0, hi = top;
	while (lo < hi) {
		long mid = lo + (hi - lo + 1) / 2;
		if (shares_at(mid, r, n) <= budget_w)
			lo = mid;
		else
			hi = mid - 1;
	}
	for (size_t i = 0; i < n; i++) {
		caps[i] = clamp_long(lo, r[i].min_w, r[i].max_w);
		clamped[i] = lo < r[i].min_w ? -1 : lo > r[i].max_w || (lo == top && caps[i] == r[i].max_w) ? 1 : 0;
	}
	return 0;
}

/* ---- sysfs ---- */

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* A whole decimal number, strictly (an optional '-', digits, one optional
 * trailing newline): sysfs attributes and the caps file's values. */
static bool parse_ll(const char *s, long long *out)
{
	const char *p = s + (*s == '-');
	if (!isdigit((unsigned char)*p))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || (*end == '\n' ? end[1] != '\0' : *end != '\0'))
		return false;
	*out = v;
	return true;
}

static int read_attr(const char *dir, const char *name, long long *out)
{
	char path[PATH_MAX + 64], buf[SYSFS_VALUE_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return parse_ll(buf, out) ? 0 : -EINVAL;
}

bool power_pci_valid(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	if (strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	return true;
}

/* The device's amdgpu hwmon directory: DEV/hwmon/hwmonN with a power1_cap. */
static int hwmon_of(const char *dev, char *out, size_t len)
{
	char dir[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof dir, "%s/hwmon", dev) >= sizeof dir)
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = -ENOENT;
	for (struct dirent *e; rc == -ENOENT && (e = readdir(d));) {
		long long v;
		if (strncmp(e->d_name, "hwmon", 5) != 0 || (size_t)snprintf(out, len, "%s/%s", dir, e->d_name) >= len)
			continue;
		if (read_attr(out, "power1_cap", &v) == 0)
			rc = 0;
	}
	closedir(d);
	return rc;
}

static int gpu_read(struct power_gpu *g, const char *pci, char *why, size_t len)
{
	char dev[PATH_MAX];
	memset(g, 0, sizeof *g);
	snprintf(g->pci, sizeof g->pci, "%s", pci);
	snprintf(dev, sizeof dev, AMDGPU_DRIVER_DIR "/%s", pci);
	int rc = hwmon_of(dev, g->hwmon, sizeof g->hwmon);
	if (rc < 0) {
		say(why, len, "GPU %s: no amdgpu hwmon with a power1_cap (%s)", pci, strerror(-rc));
		return rc;
	}
	static const struct {
		const char *name;
		size_t off;
	} attrs[] = {
		{ "power1_cap", offsetof(struct power_gpu, cap_uw) },
		{ "power1_cap_min", offsetof(struct power_gpu, min_uw) },
		{ "power1_cap_max", offsetof(struct power_gpu, max_uw) },
		{ "power1_cap_default", offsetof(struct power_gpu, default_uw) },
	};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
		long long *v = (long long *)((char *)g + attrs[i].off);
		if ((rc = read_attr(g->hwmon, attrs[i].name, v)) < 0) {
			say(why, len, "GPU %s: cannot read %s/%s (%s)", pci, g->hwmon, attrs[i].name, strerror(-rc));
			return rc;
		}
	}
	if (read_attr(g->hwmon, "power1_average", &g->average_uw) < 0)
		g->average_uw = -1;
	if (g->min_uw < 0 || g->max_uw < g->min_uw) {
		say(why, len, "GPU %s: power1_cap_min %lld above power1_cap_max %lld", pci, g->min_uw, g->max_uw);
		return -EINVAL;
	}
	return 0;
}

static int cmp_gpu(const void *a, const void *b)
{
	return strcmp(((const struct power_gpu *)a)->pci, ((const struct power_gpu *)b)->pci);
}

int power_gpus_find(struct power_gpu *g, size_t max, char *why, size_t len)
{
	DIR *d = opendir(AMDGPU_DRIVER_DIR);
	if (!d) {
		if (errno == ENOENT)
			return 0;	/* amdgpu not loaded: no GPUs */
		say(why, len, "%s: %s", AMDGPU_DRIVER_DIR, strerror(errno));
		return -errno;
	}
	size_t n = 0;
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (!power_pci_valid(e->d_name))
			continue;	/* bind, unbind, module, uevent */
		if (n == max) {
			say(why, len, "more than %zu amdgpu devices", max);
			rc = -E2BIG;
			break;
		}
		int r = gpu_read(&g[n], e->d_name, why, len);
		if (r == 0)
			n++;
		else if (r != -ENOENT)
			rc = r;	/* -ENOENT: its hwmon is not registered (yet): no cap to set */
	}
	closedir(d);
	if (rc < 0)
		return rc;
	qsort(g, n, sizeof *g, cmp_gpu);
	return (int)n;
}

int power_gpu_by_pci(const char *pci, struct power_gpu *g, char *why, size_t len)
{
	if (!power_pci_valid(pci)) {
		say(why, len, "'%s' is not a PCI address (0000:03:00.0)", pci);
		return -EINVAL;
	}
	return gpu_read(g, pci, why, len);
}

int power_gpu_by_hwmon(const char *name, struct power_gpu *g, char *why, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX];
	if (strncmp(name, "hwmon", 5) != 0 || !name[5] || strspn(name + 5, "0123456789") != strlen(name + 5)) {
		say(why, len, "'%s' is not a hwmon device name (hwmonN)", name);
		return -EINVAL;
	}
	snprintf(link, sizeof link, HWMON_CLASS_DIR "/%s/device", name);
	if (!realpath(link, real)) {
		say(why, len, "%s: %s", link, strerror(errno));
		return -errno;
	}
	const char *pci = strrchr(real, '/') + 1;
	if (!power_pci_valid(pci)) {
		say(why, len, "%s is not a PCI device's hwmon", name);
		return -ENODEV;
	}
	return gpu_read(g, pci, why, len);
}

struct power_range power_gpu_range(const struct power_gpu *g)
{
	return (struct power_range){ (long)((g->min_uw + UW_PER_W - 1) / UW_PER_W), (long)(g->max_uw / UW_PER_W) };
}

int power_cap_write(struct power_gpu *g, long cap_w, char *why, size_t len)
{
	char path[PATH_MAX + 16], text[32];
	snprintf(path, sizeof path, "%s/power1_cap", g->hwmon);
	int n = snprintf(text, sizeof text, "%lld\n", (long long)cap_w * UW_PER_W);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		say(why, len, "GPU %s: %s: %s", g->pci, path, strerror(errno));
		return -errno;
	}
	ssize_t w = write(fd, text, (size_t)n);
	int err = errno;
	close(fd);
	if (w != n) {
		say(why, len, "GPU %s: the kernel refused a cap of %ld W (%s)", g->pci, cap_w,
		    w < 0 ? strerror(err) : "short write");
		return w < 0 ? -err : -EIO;
	}
	int rc = read_attr(g->hwmon, "power1_cap", &g->cap_uw);
	if (rc < 0) {
		say(why, len, "GPU %s: cannot read power1_cap back (%s)", g->pci, strerror(-rc));
		return rc;
	}
	if (g->cap_uw != (long long)cap_w * UW_PER_W) {
		say(why, len, "GPU %s: wrote %ld W, power1_cap reads %lld uW", g->pci, cap_w, g->cap_uw);
		return -EIO;
	}
	return 0;
}

/* ---- the caps file ---- */

const long *power_conf_cap(const struct power_conf *c, const char *pci)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->gpu[i].pci, pci))
			return &c->gpu[i].cap_w;
	return NULL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

struct conf_parse {
	struct power_conf *c;
	bool in_budget;
	int gpu;		/* index of the current [gpu ADDR] section, -1 none */
	int seen_budget;	/* bit per budget key */
};

static const char *const budget_keys[] = { "outlet_w", "host_w", "psu_efficiency_pct", "gpus_w" };

static long *budget_field(struct power_conf *c, size_t k)
{
	long *f[] = { &c->outlet_w, &c->host_w, &c->psu_efficiency_pct, &c->gpus_w };
	return f[k];
}

static int conf_section(struct conf_parse *p, char *name, char *why, size_t len)
{
	p->in_budget = false;
	p->gpu = -1;
	if (!strcmp(name, "budget")) {
		p->in_budget = true;
		return 0;
	}
	if (strncmp(name, "gpu ", 4) != 0) {
		say(why, len, "unknown section [%s] (budget, gpu ADDRESS)", name);
		return -EINVAL;
	}
	const char *pci = trim(name + 4);
	if (!power_pci_valid(pci)) {
		say(why, len, "'%s' is not a PCI address (0000:03:00.0)", pci);
		return -EINVAL;
	}
	if (power_conf_cap(p->c, pci)) {
		say(why, len, "GPU %s is listed twice", pci);
		return -EINVAL;
	}
	if (p->c->n == POWER_MAX_GPUS) {
		say(why, len, "more than %d GPUs", POWER_MAX_GPUS);
		return -E2BIG;
	}
	p->gpu = (int)p->c->n++;
	snprintf(p->c->gpu[p->gpu].pci, POWER_PCI_LEN, "%s", pci);
	p->c->gpu[p->gpu].cap_w = -1;
	return 0;
}

static int conf_value(struct conf_parse *p, const char *key, const char *val, int line, char *why, size_t len)
{
	long long v;
	if (!parse_ll(val, &v) || v < 0 || v > CAP_W_LIMIT) {
		say(why, len, "%s must be a whole number from 0 to %d, not '%s'", key, CAP_W_LIMIT, val);
		return -EINVAL;
	}
	if (p->gpu >= 0 && !strcmp(key, "cap_w")) {
		if (p->c->gpu[p->gpu].cap_w >= 0) {
			say(why, len, "cap_w is set twice");
			return -EINVAL;
		}
		p->c->gpu[p->gpu].cap_w = (long)v;
		p->c->gpu[p->gpu].line = line;
		return 0;
	}
	for (size_t k = 0; p->in_budget && k < sizeof budget_keys / sizeof budget_keys[0]; k++)
		if (!strcmp(key, budget_keys[k])) {
			if (p->seen_budget & (1 << k)) {
				say(why, len, "%s is set twice", key);
				return -EINVAL;
			}
			p->seen_budget |= 1 << k;
			*budget_field(p->c, k) = (long)v;
			return 0;
		}
	say(why, len, "unknown key '%s'%s", key,
	    p->in_budget ? " in [budget]" : p->gpu >= 0 ? " in a [gpu] section (cap_w)" : " outside a section");
	return -EINVAL;
}

static int conf_line(struct conf_parse *p, char *line, int lineno, char *why, size_t len)
{
	char *s = trim(line);
	if (!*s || *s == '#')
		return 0;
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (!end || *trim(end + 1)) {
			say(why, len, "a section is [NAME] alone on its line");
			return -EINVAL;
		}
		*end = '\0';
		return conf_section(p, trim(s + 1), why, len);
	}
	char *eq = strchr(s, '=');
	if (!eq) {
		say(why, len, "expected key = value");
		return -EINVAL;
	}
	*eq = '\0';
	return conf_value(p, trim(s), trim(eq + 1), lineno, why, len);
}

/* Whole-file rules: every budget key, every cap set, caps within the budget. */
static int conf_complete(const struct power_conf *c, int seen, char *why, size_t len)
{
	for (size_t k = 0; k < sizeof budget_keys / sizeof budget_keys[0]; k++)
		if (!(seen & (1 << k))) {
			say(why, len, "[budget] has no %s", budget_keys[k]);
			return -EINVAL;
		}
	long sum = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->gpu[i].cap_w < 0) {
			say(why, len, "[gpu %s] has no cap_w", c->gpu[i].pci);
			return -EINVAL;
		}
		sum += c->gpu[i].cap_w;
	}
	if (sum > c->gpus_w) {
		say(why, len, "the caps add up to %ld W, more than the GPUs' budget gpus_w = %ld W", sum, c->gpus_w);
		return -ERANGE;
	}
	return 0;
}

int power_conf_load(const char *path, struct power_conf *c, char *why, size_t len)
{
	struct tb_lines r;
	char reason[256];
	memset(c, 0, sizeof *c);
	int rc = tb_lines_open(&r, path, POWER_CONF_MAX, CONF_LINE_MAX);
	if (rc < 0) {
		say(why, len, "%s: %s", path, rc == -ENOENT ? "no such file" : r.why[0] ? r.why : strerror(-rc));
		return rc;
	}
	struct conf_parse p = { .c = c, .gpu = -1 };
	char *line;
	while ((rc = tb_lines_next(&r, &line)) > 0)
		if ((rc = conf_line(&p, line, r.line, reason, sizeof reason)) < 0)
			break;
	if (rc < 0 && reason[0] == '\0')
		snprintf(reason, sizeof reason, "%s", r.why);
	int lineno = r.line;
	tb_lines_close(&r);
	if (rc < 0) {
		say(why, len, "%s:%d: %s", path, lineno, reason);
		return rc;
	}
	if ((rc = conf_complete(c, p.seen_budget, reason, sizeof reason)) < 0) {
		say(why, len, "%s: %s", path, reason);
		return rc;
	}
	return 0;
}

char *power_conf_format(const struct power_conf *c, const char *source)
{
	size_t cap = 1024 + c->n * 64;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	size_t n = (size_t)snprintf(t, cap,
				    "# The GPUs' power caps for one outlet, by PCI address: written by `tb setup apply`\n"
				    "# from %s [power]; `tb power apply` writes them to each GPU's power1_cap\n"
				    "# at every boot and whenever a GPU's hwmon appears.  Change setup.conf and\n"
				    "# re-run `tb setup apply` rather than this file.\n"
				    "[budget]\n"
				    "outlet_w = %ld\nhost_w = %ld\npsu_efficiency_pct = %ld\ngpus_w = %ld\n",
				    source, c->outlet_w, c->host_w, c->psu_efficiency_pct, c->gpus_w);
	for (size_t i = 0; i < c->n && n < cap; i++)
		n += (size_t)snprintf(t + n, cap - n, "\n[gpu %s]\ncap_w = %ld\n", c->gpu[i].pci, c->gpu[i].cap_w);
	return t;
}
