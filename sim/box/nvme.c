/* The drives' NVMe admin commands, as the nvme driver passes them through
 * (include/uapi/linux/nvme_ioctl.h): NVME_IOCTL_ADMIN_CMD and
 * NVME_IOCTL_ADMIN64_CMD on the controller's character device or on a
 * namespace's block device, NVME_IOCTL_ID on a namespace.  The data
 * structures are the NVMe base specification's (libnvme's nvme/types.h
 * names them).  A command's NVMe status is the ioctl's positive return
 * value, as in the kernel. */
#include <errno.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <nvme/types.h>

#include "sim/box/conn.h"
#include "sim/box/drives.h"

#define KELVIN 273
#define WARNING_TEMP_K (82 + KELVIN)	/* wctemp: temp1_max of the hwmon */
#define CRITICAL_TEMP_K (85 + KELVIN)	/* cctemp: temp1_crit */
#define MDTS 5				/* 2^5 pages of 4 KiB: max_hw_sectors_kb 128 */

int nvme_open(struct conn *c, const char *path)
{
	int inst, nsid;
	char extra;
	bool ns = sscanf(path, "/dev/nvme%dn%d%c", &inst, &nsid, &extra) == 2;
	if (!ns && sscanf(path, "/dev/nvme%d%c", &inst, &extra) != 1)
		return -ENOENT;
	struct sim_drive *d = drive_by_instance(g_box, inst);
	if (!d || (ns && nsid != 1))
		return -ENOENT;
	if (atomic_load(&d->gone))
		return -ENODEV;
	c->drive = d;
	c->nsid = ns ? 1u : 0u;
	c->dev = ns ? DEV_NVME_NS : DEV_NVME;
	return 0;
}

/* A string field: space padded, not terminated. */
static void pad(char *dst, size_t len, const char *src)
{
	memset(dst, ' ', len);
	memcpy(dst, src, strnlen(src, len));
}

/* A 128-bit little-endian counter. */
static void u128(uint8_t out[16], uint64_t v)
{
	memset(out, 0, 16);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t lbas(const struct sim_drive *d)
{
	return d->bytes >> d->lba_shift;
}

static void identify_ctrl(const struct sim_drive *d, struct nvme_id_ctrl *id)
{
	id->vid = id->ssvid = 0x144d;
	pad(id->sn, sizeof id->sn, d->serial);
	pad(id->mn, sizeof id->mn, d->model);
	pad(id->fr, sizeof id->fr, d->firmware);
	id->rab = 2;
	id->ieee[0] = 0x38, id->ieee[1] = 0x25, id->ieee[2] = 0x00;	/* OUI 00-25-38, least significant first */
	id->mdts = MDTS;
	id->cntlid = 6;
	id->ver = 0x00010400;		/* NVMe 1.4 */
	id->oaes = 0x200;		/* firmware activation notices */
	id->cntrltype = 1;		/* I/O controller */
	id->oacs = 0x17;		/* security, format, firmware download, device self-test */
	id->acl = 7;
	id->aerl = 3;
	id->frmw = 0x16;		/* three slots, activation without reset */
	id->lpa = 0x0f;			/* per-namespace SMART, commands effects, extended data, telemetry */
	id->elpe = DRIVE_ERROR_LOG - 1;
	id->npss = 0;
	id->wctemp = WARNING_TEMP_K;
	id->cctemp = CRITICAL_TEMP_K;
	u128(id->tnvmcap, d->bytes);
	id->sqes = 0x66;
	id->cqes = 0x44;
	id->nn = 1;
	id->oncs = 0x5f;
	id->vwc = 1;
	id->sgls = 0;
	char nqn[128];
	snprintf(nqn, sizeof nqn, "nqn.1994-11.com.samsung:nvme:%s:M.2:%s",
		 d->index < SIM_DATA_DRIVES ? "990PRO" : "980PRO", d->serial);
	snprintf(id->subnqn, sizeof id->subnqn, "%s", nqn);
	id->psd[0].mp = 900;		/* 9 W, in centiwatts */
}

static void identify_ns(const struct sim_drive *d, struct nvme_id_ns *ns)
{
	ns->nsze = ns->ncap = ns->nuse = lbas(d);
	ns->nlbaf = 0;			/* one format (zero based) */
	ns->flbas = 0;
	ns->lbaf[0].ds = (uint8_t)d->lba_shift;
	ns->lbaf[0].rp = 0;
	memcpy(ns->nguid, d->nguid, sizeof ns->nguid);
	memcpy(ns->eui64, d->eui64, sizeof ns->eui64);
	u128(ns->nvmcap, d->bytes);
}

static size_t ns_descriptors(const struct sim_drive *d, uint8_t *out)
{
	size_t n = 0;
	struct nvme_ns_id_desc *e = (struct nvme_ns_id_desc *)out;
	e->nidt = NVME_NIDT_EUI64;
	e->nidl = 8;
	memcpy(out + sizeof *e, d->eui64, 8);
	n += sizeof *e + 8;
	e = (struct nvme_ns_id_desc *)(out + n);
	e->nidt = NVME_NIDT_NGUID;
	e->nidl = 16;
	memcpy(out + n + sizeof *e, d->nguid, 16);
	return n + sizeof *e + 16;
}

static void smart_log(const struct sim_drive *d, struct nvme_smart_log *s)
{
	int mc = drive_temperature_mc(d);
	int kelvin = (mc + 500) / 1000 + KELVIN;
	s->critical_warning = kelvin >= CRITICAL_TEMP_K ? NVME_SMART_CRIT_TEMPERATURE : 0;
	s->temperature[0] = (uint8_t)kelvin;
	s->temperature[1] = (uint8_t)(kelvin >> 8);
	s->avail_spare = 100;
	s->spare_thresh = 10;
	s->percent_used = 0;
	uint64_t r = 0, rs = 0, w = 0, ws = 0;
	drive_io_stat(d, &r, &rs, &w, &ws);
	/* data units are thousands of 512-byte units, rounded up */
	u128(s->data_units_read, (rs + 999) / 1000);
	u128(s->data_units_written, (ws + 999) / 1000);
	u128(s->host_reads, r);
	u128(s->host_writes, w);
	u128(s->power_cycles, 1);
	u128(s->power_on_hours, (box_now_ns() - g_box->start_ns) / 3600000000000ull);
	u128(s->media_errors, atomic_load(&((struct sim_drive *)d)->media_errors));
	pthread_mutex_lock(&((struct sim_drive *)d)->lock);
	u128(s->num_err_log_entries, d->error_count);
	pthread_mutex_unlock(&((struct sim_drive *)d)->lock);
	s->temp_sensor[0] = (uint16_t)kelvin;
}

static void firmware_log(const struct sim_drive *d, struct nvme_firmware_slot *f)
{
	f->afi = 1;			/* slot 1 active, and active after the next reset */
	memcpy(f->frs[0], d->firmware, strnlen(d->firmware, sizeof f->frs[0]));
	for (size_t i = strnlen(d->firmware, sizeof f->frs[0]); i < sizeof f->frs[0]; i++)
		f->frs[0][i] = ' ';
}

/* The controller's answer to one admin command: its data in buf (*len
 * bytes), and the NVMe status. */
static int admin(struct sim_drive *d, uint8_t opcode, uint32_t nsid, const uint32_t cdw[6], uint8_t *buf,
		 size_t cap, size_t *len, uint64_t *offset)
{
	*len = 0;
	*offset = 0;
	memset(buf, 0, cap);
	if (opcode == nvme_admin_identify) {
		uint8_t cns = (uint8_t)cdw[0];
		*len = NVME_IDENTIFY_DATA_SIZE;
		switch (cns) {
		case NVME_IDENTIFY_CNS_CTRL:
			identify_ctrl(d, (struct nvme_id_ctrl *)buf);
			return 0;
		case NVME_IDENTIFY_CNS_NS:
			if (nsid == NVME_NSID_ALL) {
				struct nvme_id_ns *ns = (struct nvme_id_ns *)buf;
				ns->lbaf[0].ds = (uint8_t)d->lba_shift;	/* the common capabilities */
				return 0;
			}
			if (nsid != 1)
				return NVME_SC_INVALID_NS | NVME_SC_DNR;
			identify_ns(d, (struct nvme_id_ns *)buf);
			return 0;
		case NVME_IDENTIFY_CNS_NS_ACTIVE_LIST:
			if (nsid < 1)
				((uint32_t *)(void *)buf)[0] = 1;
			return 0;
		case NVME_IDENTIFY_CNS_NS_DESC_LIST:
			if (nsid != 1)
				return NVME_SC_INVALID_NS | NVME_SC_DNR;
			ns_descriptors(d, buf);
			return 0;
		default:
			*len = 0;
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		}
	}
	if (opcode == nvme_admin_get_log_page) {
		uint8_t lid = (uint8_t)cdw[0];
		uint64_t numd = ((uint64_t)(cdw[1] & 0xffff) << 16 | cdw[0] >> 16) + 1;
		*offset = cdw[2] | (uint64_t)cdw[3] << 32;
		size_t size;
		switch (lid) {
		case NVME_LOG_LID_ERROR:
			size = DRIVE_ERROR_LOG * sizeof(struct nvme_error_log_page);
			pthread_mutex_lock(&d->lock);
			memcpy(buf, d->errors, size);
			pthread_mutex_unlock(&d->lock);
			break;
		case NVME_LOG_LID_SMART:
			size = sizeof(struct nvme_smart_log);
			smart_log(d, (struct nvme_smart_log *)buf);
			break;
		case NVME_LOG_LID_FW_SLOT:
			size = sizeof(struct nvme_firmware_slot);
			firmware_log(d, (struct nvme_firmware_slot *)buf);
			break;
		default:
			return NVME_SCT_CMD_SPECIFIC << NVME_SCT_SHIFT | NVME_SC_INVALID_LOG_PAGE | NVME_SC_DNR;
		}
		if (*offset >= size || *offset % 4)
			return NVME_SC_INVALID_FIELD | NVME_SC_DNR;
		*len = numd * 4 < size - *offset ? (size_t)(numd * 4) : (size_t)(size - *offset);
		return 0;
	}
	return NVME_SC_INVALID_OPCODE | NVME_SC_DNR;
}

/* One passthrough command: its header in data (struct nvme_passthru_cmd or
 * _cmd64, whose leading fields are the same), its buffer at cmd->addr in
 * the process. */
static long passthru(struct conn *c, void *data, uint32_t size, bool wide, uint32_t *copy_out)
{
	struct nvme_passthru_cmd64 cmd;
	memset(&cmd, 0, sizeof cmd);
	memcpy(&cmd, data, size < sizeof cmd ? size : sizeof cmd);
	struct sim_drive *d = c->drive;
	if (atomic_load(&d->gone))
		return -ENODEV;
	/* the namespace's block device sends commands for its own namespace */
	uint32_t nsid = c->dev == DEV_NVME_NS && cmd.nsid == 0 ? c->nsid : cmd.nsid;
	const uint32_t cdw[6] = { cmd.cdw10, cmd.cdw11, cmd.cdw12, cmd.cdw13, cmd.cdw14, cmd.cdw15 };
	static _Thread_local uint8_t buf[DRIVE_ERROR_LOG * 64 > 4096 ? DRIVE_ERROR_LOG * 64 : 4096];
	size_t len;
	uint64_t off;
	int status = admin(d, cmd.opcode, nsid, cdw, buf, sizeof buf, &len, &off);
	if (status == 0 && len) {
		size_t n = len < cmd.data_len ? len : cmd.data_len;
		if (n && (!cmd.addr || copy_to_user(c, cmd.addr, buf + off, n) < 0))
			return -EFAULT;
	}
	/* the completion's dword 0 */
	if (wide)
		((struct nvme_passthru_cmd64 *)data)->result = 0;
	else
		((struct nvme_passthru_cmd *)data)->result = 0;
	*copy_out = size;
	return status;
}

long nvme_ioctl(struct conn *c, unsigned long req, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	(void)arg;
	*copy_out = 0;
	switch (req) {
	case NVME_IOCTL_ID:
		if (c->dev != DEV_NVME_NS)
			return -ENOTTY;
		return atomic_load(&c->drive->gone) ? -ENODEV : (long)c->nsid;
	case NVME_IOCTL_ADMIN_CMD:
		if (size != sizeof(struct nvme_passthru_cmd))
			return -EINVAL;
		return passthru(c, data, size, false, copy_out);
	case NVME_IOCTL_ADMIN64_CMD:
		if (size != sizeof(struct nvme_passthru_cmd64))
			return -EINVAL;
		return passthru(c, data, size, true, copy_out);
	default:
		return -ENOTTY;
	}
}
