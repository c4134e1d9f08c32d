/* tb sim fault: faults injected into the box, each the way the real one
 * shows itself to software (a queue that stops, a flipped VRAM bit nobody
 * reports, a link that trains narrower, RAS counters, a fan that stops, a
 * GPU gone from the bus). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/box/box.h"
#include "sim/box/sensors.h"
#include "sim/box/drives.h"
#include "sim/kmd/kmd.h"

int box_fault(struct sim_box *b, const char *arg, char *msg, size_t len);

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || *end || s[0] == '-')
		return -EINVAL;
	*v = x;
	return 0;
}

static int bad(char *msg, size_t len, const char *fmt, const char *what)
{
	snprintf(msg, len, fmt, what);
	return -EINVAL;
}

static int fault_link(struct sim_gpu *g, const char *w, const char *s, char *msg, size_t len)
{
	uint64_t width, speed;
	if (parse_u64(w, &width) < 0 || (width != 1 && width != 2 && width != 4 && width != 8 && width != 16))
		return bad(msg, len, "link width must be 1, 2, 4, 8 or 16, not '%s'", w ? w : "");
	if (parse_u64(s, &speed) < 0 || (speed != 2 && speed != 5 && speed != 8 && speed != 16))
		return bad(msg, len, "link speed must be 2, 5, 8 or 16 GT/s, not '%s'", s ? s : "");
	g->link_width = (int)width;
	g->link_speed_gts = (int)speed;
	/* a link retrains narrower or slower after errors on it: both its ends,
	 * the switch's downstream port and the GPU, count them */
	for (int h = AER_SWITCH_DOWN; h <= AER_GPU; h++) {
		atomic_fetch_add(&g->aer[h].rx_err, 16);
		atomic_fetch_add(&g->aer[h].bad_tlp, 4);
	}
	klog("pcieport %s: AER: Corrected error received: %s", g->bdf, g->bdf);
	klog("pcieport: %s: PCIe link trained at x%d %s GT/s (capable of x16 16 GT/s)", g->bdf, (int)width,
	     speed == 2 ? "2.5" : speed == 5 ? "5.0" : speed == 8 ? "8.0" : "16.0");
	snprintf(msg, len, "GPU %d: link now x%d %d GT/s", g->index, (int)width, (int)speed);
	return 0;
}

static int fault_ras(struct sim_gpu *g, bool ue, const char *n_arg, char *msg, size_t len)
{
	uint64_t n;
	if (parse_u64(n_arg, &n) < 0 || n == 0 || n > 1000000)
		return bad(msg, len, "a count from 1 to 1000000 is needed, not '%s'", n_arg ? n_arg : "");
	atomic_fetch_add(ue ? &g->ras_ue : &g->ras_ce, n);
	klog("amdgpu %s: %llu %scorrectable hardware errors detected in UMC block", g->bdf, (unsigned long long)n,
	     ue ? "un" : "");
	if (ue)
		gpu_reset(g, "uncorrectable memory error");
	snprintf(msg, len, "GPU %d: %llu %s memory errors", g->index, (unsigned long long)n, ue ? "uncorrectable" : "correctable");
	return 0;
}

/* bit 0 of COUNT bytes (default 1), STRIDE bytes apart (default 4096),
 * from byte offset ADDR of VRAM: cells gone bad, in a row or scattered */
static int fault_bitflip(struct sim_gpu *g, const char *addr_arg, const char *n_arg, const char *stride_arg, char *msg,
			 size_t len)
{
	uint64_t addr, n = 1, stride = 4096;
	if (parse_u64(addr_arg, &addr) < 0 || addr >= GPU_VRAM_BYTES)
		return bad(msg, len, "a VRAM byte offset below 24 GiB is needed, not '%s'", addr_arg ? addr_arg : "");
	if (n_arg && (parse_u64(n_arg, &n) < 0 || n == 0 || n > 1000000))
		return bad(msg, len, "the count of bytes is 1 to 1000000, not '%s'", n_arg);
	if (stride_arg && (parse_u64(stride_arg, &stride) < 0 || stride == 0 || stride > GPU_VRAM_BYTES))
		return bad(msg, len, "the stride is 1 byte to 24 GiB, not '%s'", stride_arg);
	if ((n - 1) > (GPU_VRAM_BYTES - 1 - addr) / stride)
		return bad(msg, len, "%s", "the flips would run past the end of VRAM");
	/* GDDR6 on this board has no ECC: nothing is logged */
	for (uint64_t i = 0; i < n; i++)
		__atomic_fetch_xor(&g->vram[addr + i * stride], 1u, __ATOMIC_SEQ_CST);
	snprintf(msg, len, "GPU %d: flipped bit 0 of %llu VRAM bytes from 0x%llx, %llu apart", g->index,
		 (unsigned long long)n, (unsigned long long)addr, (unsigned long long)stride);
	return 0;
}

/* Bit 0 of COUNT bytes STRIDE apart stuck at 1: a cell that no write
 * changes.  The box re-asserts it before every packet of every engine, so
 * a packet that writes it and a later one that reads it see the stuck
 * value (a read inside the same packet still sees what was written). */
static int fault_stuck(struct sim_gpu *g, const char *addr_arg, const char *n_arg, const char *stride_arg, char *msg,
		       size_t len)
{
	uint64_t addr, n = 1, stride = 4096;
	if (parse_u64(addr_arg, &addr) < 0 || addr >= GPU_VRAM_BYTES)
		return bad(msg, len, "a VRAM byte offset below 24 GiB is needed, not '%s'", addr_arg ? addr_arg : "");
	if (n_arg && (parse_u64(n_arg, &n) < 0 || n == 0 || n > VRAM_STUCK_MAX_BYTES))
		return bad(msg, len, "the count of stuck bytes is 1 to 65536, not '%s'", n_arg);
	if (stride_arg && (parse_u64(stride_arg, &stride) < 0 || stride == 0 || stride > GPU_VRAM_BYTES))
		return bad(msg, len, "the stride is 1 byte to 24 GiB, not '%s'", stride_arg);
	if ((n - 1) > (GPU_VRAM_BYTES - 1 - addr) / stride)
		return bad(msg, len, "%s", "the stuck bytes would run past the end of VRAM");
	int k = atomic_load(&g->nstuck);
	if (k == VRAM_STUCK_RANGES) {
		snprintf(msg, len, "GPU %d has %d ranges of stuck bytes already (tb sim fault clear %d)", g->index,
			 VRAM_STUCK_RANGES, g->index);
		return -EINVAL;
	}
	g->stuck[k].addr = addr;
	g->stuck[k].count = n;
	g->stuck[k].stride = stride;
	atomic_store(&g->nstuck, k + 1);	/* published after its fields */
	box_vram_stuck_reassert(g_box);
	snprintf(msg, len, "GPU %d: bit 0 of %llu VRAM bytes from 0x%llx, %llu apart, stuck at 1", g->index,
		 (unsigned long long)n, (unsigned long long)addr, (unsigned long long)stride);
	return 0;
}

void box_vram_stuck_reassert(struct sim_box *b)
{
	for (int i = 0; i < b->ngpus; i++) {
		struct sim_gpu *g = &b->gpu[i];
		int n = atomic_load(&g->nstuck);
		for (int k = 0; k < n; k++) {
			/* a range cleared and filled again while an engine reads it
			 * can read half old, half new: only a range inside VRAM is set */
			uint64_t addr = g->stuck[k].addr, count = g->stuck[k].count, stride = g->stuck[k].stride;
			if (!count || !stride || addr >= GPU_VRAM_BYTES || (count - 1) > (GPU_VRAM_BYTES - 1 - addr) / stride)
				continue;
			for (uint64_t j = 0; j < count; j++)
				__atomic_fetch_or(&g->vram[addr + j * stride], 1u, __ATOMIC_RELAXED);
		}
	}
}

/* MES stops answering: the queue removal after the next N (0 by default)
 * times out, and the driver resets the GPU */
static int fault_mes_hang(struct sim_gpu *g, const char *n_arg, char *msg, size_t len)
{
	uint64_t n = 0;
	if (n_arg && (parse_u64(n_arg, &n) < 0 || n > 1000000))
		return bad(msg, len, "mes-hang takes a count of removals from 0 to 1000000, not '%s'", n_arg);
	atomic_store(&g->mes_hang, (int)n + 1);
	snprintf(msg, len, "GPU %d: MES stops answering after %llu more queue removals", g->index, (unsigned long long)n);
	return 0;
}

/* N correctable errors (bad TLPs) at one hop of the GPU's path */
static int fault_aer(struct sim_gpu *g, const char *n_arg, const char *hop_arg, char *msg, size_t len)
{
	static const char *const hops[AER_HOPS] = { "root", "upstream", "downstream", "gpu" };
	uint64_t n;
	if (parse_u64(n_arg, &n) < 0 || n == 0 || n > 1000000)
		return bad(msg, len, "aer-ce takes a count from 1 to 1000000, not '%s'", n_arg ? n_arg : "");
	int h = AER_GPU;
	if (hop_arg) {
		for (h = 0; h < AER_HOPS && strcmp(hop_arg, hops[h]); h++)
			;
		if (h == AER_HOPS)
			return bad(msg, len, "the hop is root, upstream, downstream or gpu, not '%s'", hop_arg);
	}
	atomic_fetch_add(&g->aer[h].bad_tlp, n);
	klog("pcieport: AER: %llu corrected errors (Bad TLP) at the %s port of GPU %s", (unsigned long long)n, hops[h],
	     g->bdf);
	snprintf(msg, len, "GPU %d: %llu correctable PCIe errors at its %s hop", g->index, (unsigned long long)n, hops[h]);
	return 0;
}

static void clear_gpu(struct sim_box *b, struct sim_gpu *g)
{
	char fan[16];
	snprintf(fan, sizeof fan, "gpu%d", g->index);
	sensors_fan_stall(b, fan, 0);
	sensors_runaway(b, g->index, false);
	sensors_sensor_fault(b, g->index, "clear");
	g->link_width = 16;
	g->link_speed_gts = 16;
	atomic_store(&g->mes_hang, 0);
	atomic_store(&g->nstuck, 0);
	atomic_store(&g->hang_next[0], 0);
	atomic_store(&g->hang_next[1], 0);
	if (atomic_exchange(&g->fallen_off_bus, 0))
		klog("pci %s: device back on the bus after a rescan", g->bdf);
}

/* How many arguments each kind takes: more is an error, not ignored. */
static int kind_args(const char *kind)
{
	if (!strcmp(kind, "link") || !strcmp(kind, "aer-ce"))
		return 2;	/* aer-ce: N [HOP] */
	if (!strcmp(kind, "vram-bitflip") || !strcmp(kind, "vram-stuck"))
		return 3;	/* ADDR [COUNT [STRIDE]] */
	if (!strcmp(kind, "ras-ce") || !strcmp(kind, "ras-ue") || !strcmp(kind, "mes-hang") ||
	    !strcmp(kind, "media-error") || !strcmp(kind, "slow"))
		return 1;	/* mes-hang: [N]; media-error LBA[-LBA]; slow FACTOR */
	return 0;
}

static int fault_gpu(struct sim_box *b, struct sim_gpu *g, const char *kind, const char *a1, const char *a2,
		     const char *a3, char *msg,
		     size_t len)
{
	char fan[16];
	snprintf(fan, sizeof fan, "gpu%d", g->index);
	if (!strcmp(kind, "hang") || !strcmp(kind, "sdma-hang") || !strcmp(kind, "silent-hang")) {
		bool sdma = kind[1] == 'd', silent = kind[1] == 'i';
		int n = queue_inject_hang(g, sdma, silent);
		if (n > 0)
			snprintf(msg, len, "GPU %d: %d %s queue%s hung%s", g->index, n, sdma ? "SDMA" : "compute",
				 n == 1 ? "" : "s", silent ? " (still preempting: nothing reports it)" : "");
		else
			snprintf(msg, len, "GPU %d: no %s queue is live; the next one created will hang%s", g->index,
				 sdma ? "SDMA" : "compute", silent ? " (still preempting)" : "");
		return 0;
	}
	if (!strcmp(kind, "aer-ce"))
		return fault_aer(g, a1, a2, msg, len);
	if (!strcmp(kind, "mes-hang"))
		return fault_mes_hang(g, a1, msg, len);
	if (!strcmp(kind, "vram-bitflip"))
		return fault_bitflip(g, a1, a2, a3, msg, len);
	if (!strcmp(kind, "vram-stuck"))
		return fault_stuck(g, a1, a2, a3, msg, len);
	if (!strcmp(kind, "link"))
		return fault_link(g, a1, a2, msg, len);
	if (!strcmp(kind, "ras-ce") || !strcmp(kind, "ras-ue"))
		return fault_ras(g, kind[4] == 'u', a1, msg, len);
	if (!strcmp(kind, "fan-stall")) {
		sensors_fan_stall(b, fan, 1);
		snprintf(msg, len, "GPU %d: fan stalled", g->index);
		return 0;
	}
	if (!strcmp(kind, "sensor-freeze") || !strcmp(kind, "sensor-loss")) {
		sensors_sensor_fault(b, g->index, kind);
		snprintf(msg, len, "GPU %d: %s", g->index,
			 kind[7] == 'f' ? "temperatures frozen at their last readings" : "junction sensor gone");
		return 0;
	}
	if (!strcmp(kind, "thermal-runaway")) {
		sensors_runaway(b, g->index, true);
		snprintf(msg, len, "GPU %d: cooling lost, drawing its full power", g->index);
		return 0;
	}
	if (!strcmp(kind, "fall-off-bus")) {
		atomic_store(&g->fallen_off_bus, 1);
		/* the port above sees its link go down; the host's reads of the GPU time out */
		atomic_fetch_add(&g->aer[AER_SWITCH_DOWN].surprise_down, 1);
		atomic_fetch_add(&g->aer[AER_ROOT_PORT].cmplt_to, 1);
		klog("amdgpu %s: GPU has fallen off the bus (config space reads as 0xffffffff)", g->bdf);
		gpu_reset(g, "device lost");
		snprintf(msg, len, "GPU %d: fell off the bus", g->index);
		return 0;
	}
	return bad(msg, len, "unknown fault kind '%s' (tb sim fault --help lists them)", kind);
}

int box_fault(struct sim_box *b, const char *arg, char *msg, size_t len)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof buf, "%s", arg);
	const char *target = strtok_r(buf, " ", &save), *kind = strtok_r(NULL, " ", &save);
	const char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);
	if (!target)
		return bad(msg, len, "%s", "no fault given");
	/* each fault takes so many words after its target and kind: one more is an error, not ignored */
	const char *a3 = strtok_r(NULL, " ", &save);
	const char *words[4] = { a1, a2, a3, strtok_r(NULL, " ", &save) };
	int takes = !kind || !strcmp(target, "clear") || !strncmp(target, "chassis", 7) ? 0 : kind_args(kind);
	if (words[takes])
		return bad(msg, len, "unexpected argument '%s' (tb sim fault --help lists each fault's arguments)",
			   words[takes]);
	if (!strcmp(target, "clear")) {
		uint64_t i = 0;
		if (kind && (parse_u64(kind, &i) < 0 || i >= (uint64_t)b->ngpus))
			return bad(msg, len, "no GPU '%s'", kind);
		for (int k = 0; k < b->ngpus; k++)
			if (!kind || (uint64_t)k == i)
				clear_gpu(b, &b->gpu[k]);
		for (int k = 0; !kind && k < b->ndrives; k++)
			drives_fault(b, b->drive[k].name, "clear", NULL, msg, len);
		snprintf(msg, len, "faults cleared");
		return 0;
	}
	if (!strncmp(target, "chassis", 7)) {
		if (!kind || strcmp(kind, "fan-stall"))
			return bad(msg, len, "a chassis fan takes only fan-stall, not '%s'", kind ? kind : "");
		if (sensors_fan_stall(b, target, 1) < 0)
			return bad(msg, len, "no fan '%s'", target);
		snprintf(msg, len, "%s: fan stalled", target);
		return 0;
	}
	if (!strncmp(target, "nvme", 4))
		return drives_fault(b, target, kind, a1, msg, len);
	uint64_t i;
	if (parse_u64(target, &i) < 0 || i >= (uint64_t)b->ngpus)
		return bad(msg, len, "no GPU '%s' (GPUs are numbered from 0; chassis fans are chassisN)", target);
	if (!kind)
		return bad(msg, len, "%s", "no fault kind given");
	return fault_gpu(b, &b->gpu[i], kind, a1, a2, a3, msg, len);
}
