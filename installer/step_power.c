/* The setup step "power": the GPUs' power caps for one wall outlet.
 *
 * The outlet's continuous budget (volts x amps x the continuous share, 120 V x
 * 15 A x 80% = 1440 W) less the host's allowance, times the PSU's efficiency
 * (power1_cap limits the DC side), is shared by the GPUs: one common level,
 * each cap within its card's power1_cap_min..max.  When even the minimums
 * exceed it the step refuses and changes nothing.
 *
 * The host's draw is a config value (host_watts), not a measurement: the
 * budget must hold at the host's peak, while setup runs with the host idle,
 * and nothing in sysfs measures the host at the wall (RAPL counts the CPU
 * package alone; PSU hwmon drivers exist for few supplies; a BMC's reading
 * includes the GPUs).
 *
 * The caps go to ROOT/etc/tb/power.conf by PCI address; tb-power.service
 * applies them at every boot and tb-power@.service (90-tb-power.rules)
 * whenever a GPU's hwmon appears.  On the running system the step also sets
 * them now and reads them back. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer/power.h"
#include "installer/setup.h"
#include "installer/units.h"

#define CONF_PATH "/etc/tb/power.conf"
#define UNIT_DIR "/etc/systemd/system"
#define RULES_PATH "/etc/udev/rules.d/90-tb-power.rules"
#define PACKAGED_TB "/usr/bin/tb"
enum { UW_PER_W = 1000000 };

static const struct setup_key power_keys[] = {
	{ "outlet_volts", "120", "the wall outlet's voltage (V)" },
	{ "outlet_amps", "15", "the outlet's circuit rating (A): 15 or 20 on a North American branch circuit" },
	{ "continuous_pct", "80", "share of the rating a continuous load may take (%; NEC 210.19: 80)" },
	{ "host_watts", "250",
	  "the host's peak draw at the wall without the GPUs (W): CPU, memory, drives, fans, board" },
	{ "psu_efficiency_pct", "90", "the power supply's efficiency at load (%; 80 PLUS Platinum at 115 V: 90)" },
	{ NULL },
};

/* The units and the rule as installer/ ships them; PACKAGED_TB is replaced by
 * the tb that runs this step. */
static const char unit_boot[] =
	"# tb-power: the GPUs' power caps for one outlet, from /etc/tb/power.conf (by\n"
	"# PCI address; written by `tb setup apply`), at every boot.  A GPU whose hwmon\n"
	"# appears later gets its cap from tb-power@.service (90-tb-power.rules).\n"
	"[Unit]\n"
	"Description=GPU power caps for one outlet (tb power apply)\n"
	"After=systemd-modules-load.service systemd-udev-trigger.service\n"
	"Before=tb-inferd.service\n"
	"ConditionPathExists=/etc/tb/power.conf\n"
	"\n"
	"[Service]\n"
	"Type=oneshot\n"
	"ExecStart=" PACKAGED_TB " power apply --config /etc/tb/power.conf\n"
	"\n"
	"[Install]\n"
	"WantedBy=multi-user.target\n";
static const char unit_hwmon[] =
	"# tb-power@hwmonN: one GPU's power cap from /etc/tb/power.conf, started by\n"
	"# 90-tb-power.rules when the GPU's amdgpu hwmon appears (driver load, reload,\n"
	"# hot-plug); tb power finds the GPU's PCI address from the hwmon device.\n"
	"[Unit]\n"
	"Description=GPU power cap for %I (tb power apply)\n"
	"ConditionPathExists=/etc/tb/power.conf\n"
	"\n"
	"[Service]\n"
	"Type=oneshot\n"
	"ExecStart=" PACKAGED_TB " power apply --config /etc/tb/power.conf --hwmon %I\n";
static const char udev_rule[] =
	"# tb-power: a GPU's power cap again whenever its amdgpu hwmon appears, through\n"
	"# systemd (a udev RUN program must not block: the unit does the work).\n"
	"ACTION==\"add\", SUBSYSTEM==\"hwmon\", DRIVERS==\"amdgpu\", TAG+=\"systemd\", "
	"ENV{SYSTEMD_WANTS}+=\"tb-power@%k.service\"\n";

struct file_want {
	const char *path;
	char *text;
	bool differs;
};
enum { F_CONF, F_UNIT, F_UNIT_HWMON, F_RULE, NFILES };

struct power_plan {
	struct power_conf conf;
	struct power_gpu gpu[POWER_MAX_GPUS];
	int n;
	struct file_want file[NFILES];
	bool enable;
	bool set_caps;	/* the running system's caps differ */
};

/* ---- the plan ---- */

static int budget_from_conf(struct setup *s, struct step_run *r, struct power_budget *b)
{
	unsigned long long v[5];
	static const struct {
		const char *key;
		unsigned long long min, max;
	} k[5] = {
		{ "outlet_volts", 90, 260 }, { "outlet_amps", 1, 100 }, { "continuous_pct", 1, 100 },
		{ "host_watts", 0, 10000 }, { "psu_efficiency_pct", 50, 100 },
	};
	for (int i = 0; i < 5; i++)
		if (setup_conf_uint(s, r, "power", k[i].key, k[i].min, k[i].max, &v[i]) != SETUP_OK)
			return SETUP_FAILED;
	*b = (struct power_budget){ (unsigned)v[0], (unsigned)v[1], (unsigned)v[2], (unsigned)v[3], (unsigned)v[4] };
	return SETUP_OK;
}

/* The tb front end installed with this program, for the units' ExecStart
 * (absolute and normalized, as systemd requires). */
static int tb_program(char *out, size_t len)
{
	char tb[PATH_MAX];
	int rc = setup_tb_command(tb, sizeof tb);
	if (rc < 0)
		return rc;
	char real[PATH_MAX];
	if (!realpath(tb, real))
		return -errno;
	return (size_t)snprintf(out, len, "%s", real) < len ? 0 : -ENAMETOOLONG;
}

/* template with every PACKAGED_TB replaced by tb (malloc'd). */
static char *with_program(const char *template, const char *tb)
{
	size_t plen = strlen(PACKAGED_TB), cap = strlen(template) * 2 + strlen(tb) * 4 + 1;
	char *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	for (const char *p = template; *p;) {
		if (!strncmp(p, PACKAGED_TB " ", plen + 1)) {
			o += sprintf(o, "%s", tb);
			p += plen;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static int share_caps(struct setup *s, struct step_run *r, struct power_plan *p, const struct power_budget *b)
{
	struct power_range range[POWER_MAX_GPUS];
	long caps[POWER_MAX_GPUS];
	int clamped[POWER_MAX_GPUS];
	long gpus_w = power_gpus_w(b);
	char where[PATH_MAX + 32];
	setup_conf_where(s->conf, "power", "host_watts", where, sizeof where);
	if (gpus_w <= 0)
		return step_fail(r, SETUP_REFUSED, "the host's %u W (%s) leaves nothing of the outlet's %ld W for the GPUs",
				 b->host_w, where, power_outlet_w(b));
	long min_sum = 0;
	for (int i = 0; i < p->n; i++) {
		range[i] = power_gpu_range(&p->gpu[i]);
		min_sum += range[i].min_w;
	}
	int rc = power_share(gpus_w, range, (size_t)p->n, caps, clamped);
	if (rc == -ERANGE)
		return step_fail(r, SETUP_REFUSED,
				 "the %d GPUs' minimum caps add up to %ld W, more than the %ld W the outlet leaves them "
				 "(%u V x %u A x %u%% = %ld W, less the host's %u W, at %u%% PSU efficiency): nothing was "
				 "changed; fix: a circuit rated for more (outlet_amps), fewer GPUs, or host_watts if the "
				 "host draws less",
				 p->n, min_sum, gpus_w, b->volts, b->amps, b->continuous_pct, power_outlet_w(b), b->host_w,
				 b->psu_efficiency_pct);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "a GPU reports a power cap range the kernel cannot have");
	p->conf = (struct power_conf){ .outlet_w = power_outlet_w(b), .host_w = b->host_w,
				       .psu_efficiency_pct = b->psu_efficiency_pct, .gpus_w = gpus_w, .n = (size_t)p->n };
	for (int i = 0; i < p->n; i++) {
		snprintf(p->conf.gpu[i].pci, POWER_PCI_LEN, "%s", p->gpu[i].pci);
		p->conf.gpu[i].cap_w = caps[i];
		if (clamped[i])
			step_note(r, "GPU %s: its share is %s, %ld W: the card takes %ld..%ld W", p->gpu[i].pci,
				  clamped[i] > 0 ? "held at its maximum" : "raised to its minimum", caps[i], range[i].min_w,
				  range[i].max_w);
	}
	return SETUP_OK;
}

static int find_gpus(struct setup *s, struct step_run *r, struct power_plan *p)
{
	char why[512] = "";
	p->n = power_gpus_find(p->gpu, POWER_MAX_GPUS, why, sizeof why);
	if (p->n < 0)
		return step_fail(r, SETUP_FAILED, "%s", why);
	for (int i = 0; i < p->n; i++) {
		char name[32], range[64];
		snprintf(name, sizeof name, "gpu %s", p->gpu[i].pci);
		snprintf(range, sizeof range, "%lld..%lld", p->gpu[i].min_uw, p->gpu[i].max_uw);
		step_input(r, name, range);
	}
	if (p->n == 0 && s->live)
		return step_fail(r, SETUP_FAILED, "no GPU with a power cap (amdgpu's hwmon power1_cap): is amdgpu loaded?");
	if (p->n == 0)
		step_note(r, "no GPUs here (an image build?): the caps are computed at first boot, where "
			     "tb power apply caps each GPU at its minimum until then");
	return SETUP_OK;
}

static int want_files(struct setup *s, struct step_run *r, struct power_plan *p)
{
	char tb[PATH_MAX];
	if (tb_program(tb, sizeof tb) < 0)
		return step_fail(r, SETUP_FAILED, "cannot find the tb program next to this one (for the units' ExecStart)");
	static const char *const paths[NFILES] = { CONF_PATH, UNIT_DIR "/tb-power.service",
						   UNIT_DIR "/tb-power@.service", RULES_PATH };
	p->file[F_CONF].text = power_conf_format(&p->conf, s->conf_path);
	p->file[F_UNIT].text = with_program(unit_boot, tb);
	p->file[F_UNIT_HWMON].text = with_program(unit_hwmon, tb);
	p->file[F_RULE].text = strdup(udev_rule);
	for (int f = 0; f < NFILES; f++) {
		p->file[f].path = paths[f];
		if (!p->file[f].text)
			return step_fail(r, SETUP_FAILED, "out of memory");
		size_t before = r->nactions;
		if (setup_file_want(s, r, paths[f], p->file[f].text, strlen(p->file[f].text), 0644) != 0)
			return SETUP_FAILED;
		p->file[f].differs = r->nactions > before;
	}
	return SETUP_OK;
}

static int power_check(struct setup *s, struct step_run *r)
{
	struct power_plan *p = calloc(1, sizeof *p);
	if (!p)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = p;
	struct power_budget b;
	int rc;
	if ((rc = budget_from_conf(s, r, &b)) != SETUP_OK || (rc = find_gpus(s, r, p)) != SETUP_OK ||
	    (rc = share_caps(s, r, p, &b)) != SETUP_OK || (rc = want_files(s, r, p)) != SETUP_OK)
		return rc;
	p->enable = !units_say(s, "is-enabled", "tb-power.service", "enabled");
	if (p->enable)
		step_action(r, "enable tb-power.service (the caps at every boot)");
	for (int i = 0; s->live && i < p->n; i++)
		if (p->gpu[i].cap_uw != (long long)p->conf.gpu[i].cap_w * UW_PER_W) {
			step_action(r, "GPU %s: power1_cap %lld W -> %ld W", p->gpu[i].pci, p->gpu[i].cap_uw / UW_PER_W,
				    p->conf.gpu[i].cap_w);
			p->set_caps = true;
		}
	return SETUP_OK;
}

/* ---- apply and verify ---- */

static int run(struct setup *s, struct step_run *r, const char *const argv[])
{
	int rc = setup_exec(s, r, argv);
	if (rc != 0 && !r->msg[0])
		step_fail(r, SETUP_FAILED, "%s %s failed (%d)", argv[0], argv[1], rc);
	return rc == 0 ? SETUP_OK : SETUP_FAILED;
}

static int set_caps(struct step_run *r, struct power_plan *p)
{
	char why[512];
	for (int i = 0; i < p->n; i++)
		if (p->gpu[i].cap_uw != (long long)p->conf.gpu[i].cap_w * UW_PER_W &&
		    power_cap_write(&p->gpu[i], p->conf.gpu[i].cap_w, why, sizeof why) < 0)
			return step_fail(r, SETUP_FAILED, "%s", why);
	return SETUP_OK;
}

static int power_apply(struct setup *s, struct step_run *r)
{
	struct power_plan *p = r->priv;
	for (int f = 0; f < NFILES; f++) {
		if (p->file[f].differs &&
		    setup_file_write(s, r, p->file[f].path, p->file[f].text, strlen(p->file[f].text), 0644) != 0)
			return SETUP_FAILED;
	}
	static const char *const reload[] = { "systemctl", "daemon-reload", NULL };
	static const char *const udev_reload[] = { "udevadm", "control", "--reload", NULL };
	/* the managers are told only where they run (sd_booted(3); udevd's control socket) */
	if (units_systemd_running(s) && run(s, r, reload) != SETUP_OK)
		return SETUP_FAILED;
	if (s->live && access("/run/udev/control", F_OK) == 0 && run(s, r, udev_reload) != SETUP_OK)
		return SETUP_FAILED;
	if (p->enable && units_systemctl(s, r, "enable", "tb-power.service") != 0)
		return SETUP_FAILED;
	return s->live && p->set_caps ? set_caps(r, p) : SETUP_OK;
}

static int power_verify(struct setup *s, struct step_run *r)
{
	struct power_plan *p = r->priv;
	size_t notes = r->nnotes;
	for (int f = 0; f < NFILES; f++) {
		char *have = NULL;
		size_t len = 0;
		int rc = setup_file_read(s, p->file[f].path, POWER_CONF_MAX, &have, &len);
		if (rc < 0 || len != strlen(p->file[f].text) || memcmp(have, p->file[f].text, len) != 0)
			step_note(r, "%s is not what the step wrote: run tb setup apply", p->file[f].path);
		free(have);
	}
	if (!units_say(s, "is-enabled", "tb-power.service", "enabled"))
		step_note(r, "tb-power.service is not enabled: the caps would not be set at boot");
	long sum = 0;
	for (int i = 0; i < p->n; i++) {
		sum += p->conf.gpu[i].cap_w;
		struct power_gpu now;
		char why[512];
		if (!s->live)
			continue;	/* the target's GPUs are capped when it boots */
		if (power_gpu_by_pci(p->gpu[i].pci, &now, why, sizeof why) < 0)
			step_note(r, "%s", why);
		else if (now.cap_uw != (long long)p->conf.gpu[i].cap_w * UW_PER_W)
			step_note(r, "GPU %s: power1_cap reads %lld uW, not %ld W", now.pci, now.cap_uw, p->conf.gpu[i].cap_w);
	}
	if (sum > p->conf.gpus_w)
		step_note(r, "the caps add up to %ld W, more than the GPUs' %ld W", sum, p->conf.gpus_w);
	if (r->nnotes > notes)
		return step_fail(r, SETUP_FAILED, "the power caps are not in place (%zu findings)", r->nnotes - notes);
	return SETUP_OK;
}

static void power_release(struct step_run *r)
{
	struct power_plan *p = r->priv;
	if (!p)
		return;
	for (int f = 0; f < NFILES; f++)
		free(p->file[f].text);
	free(p);
	r->priv = NULL;
}

const struct setup_step step_power = {
	.name = "power",
	.summary = "the GPUs' power caps for one wall outlet, set at every boot",
	.keys = power_keys,
	.check = power_check,
	.apply = power_apply,
	.verify = power_verify,
	.release = power_release,
};
