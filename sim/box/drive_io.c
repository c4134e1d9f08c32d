/* A drive's reads and writes, as its namespace's loop device makes them
 * through the FUSE file the daemon serves (blkfs): the blocks are the
 * backing file's, and the drive's faults act here.  A drive gone fails
 * every command; a media error range fails the reads that touch it with
 * Unrecovered Read Error (the error log gets the entry, SMART's
 * media_errors counts it, the kernel log says it as the nvme driver does);
 * a slow drive moves at most its nominal bandwidth divided by FACTOR. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nvme/types.h>

#include "sim/box/drives.h"

/* Samsung's sequential figures: 990 PRO 7450 / 6900 MB/s, 980 PRO 7000 / 5000 MB/s */
#define DATA_READ_BPS 7450000000.0
#define DATA_WRITE_BPS 6900000000.0
#define BOOT_READ_BPS 7000000000.0
#define BOOT_WRITE_BPS 5000000000.0
#define MAX_SLOW 1000
#define IO_SQID 1			/* the namespace's I/O queue */
#define NVME_READ_OPCODE 0x02

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The first failing LBA in [lo, hi], if any (called with d->lock held). */
static bool media_hit(const struct sim_drive *d, uint64_t lo, uint64_t hi, uint64_t *bad)
{
	bool hit = false;
	for (int i = 0; i < d->nmedia; i++)
		if (d->media_lo[i] <= hi && d->media_hi[i] >= lo) {
			uint64_t first = d->media_lo[i] > lo ? d->media_lo[i] : lo;
			if (!hit || first < *bad)
				*bad = first;
			hit = true;
		}
	return hit;
}

/* The controller's error log entry and SMART count for a failed read (d->lock held). */
static void log_media_error(struct sim_drive *d, uint64_t lba, uint64_t blocks)
{
	d->error_count++;
	memmove(&d->errors[1], &d->errors[0], (DRIVE_ERROR_LOG - 1) * sizeof *d->errors);
	struct nvme_error_log_page *e = &d->errors[0];
	memset(e, 0, sizeof *e);
	e->error_count = htole64(d->error_count);
	e->sqid = htole16(IO_SQID);
	e->cmdid = htole16((uint16_t)d->error_count);
	/* bit 0 is the phase tag; the status field above it */
	e->status_field = htole16((uint16_t)(((NVME_SCT_MEDIA << NVME_SCT_SHIFT) | NVME_SC_READ_ERROR) << 1));
	e->parm_error_location = htole16(0xffff);
	e->lba = htole64(lba);
	e->nsid = htole32(1);
	atomic_fetch_add(&d->media_errors, 1);
	klog("%sn1: I/O Cmd(0x%x) @ LBA %" PRIu64 ", %" PRIu64 " blocks, I/O Error (sct 0x%x / sc 0x%x) MORE DNR",
	     d->name, NVME_READ_OPCODE, lba, blocks, NVME_SCT_MEDIA, NVME_SC_READ_ERROR);
	klog("critical medium error, dev %sn1, sector %" PRIu64 " op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
	     d->name, lba << (d->lba_shift - 9));
}

/* slow: the transfer ends when the drive, at its reduced bandwidth, is
 * through with it and with every transfer before it. */
static void pace(struct sim_drive *d, size_t len, bool write)
{
	int factor = atomic_load(&d->slow);
	if (factor <= 1)
		return;
	bool data = d->index < SIM_DATA_DRIVES;
	double bps = write ? (data ? DATA_WRITE_BPS : BOOT_WRITE_BPS) : (data ? DATA_READ_BPS : BOOT_READ_BPS);
	uint64_t ns = (uint64_t)((double)len * 1e9 * factor / bps);
	pthread_mutex_lock(&d->lock);
	uint64_t start = d->busy_until_ns > now_ns() ? d->busy_until_ns : now_ns();
	d->busy_until_ns = start + ns;
	uint64_t until = d->busy_until_ns;
	pthread_mutex_unlock(&d->lock);
	struct timespec t = { .tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

ssize_t drive_io(void *obj, char *buf, size_t len, uint64_t off, bool write)
{
	struct sim_drive *d = obj;
	if (atomic_load(&d->gone))
		return -EIO;	/* the controller is dead: every command fails */
	if (off >= d->bytes || len == 0)
		return write && len ? -ENOSPC : 0;
	if (len > d->bytes - off)
		len = (size_t)(d->bytes - off);
	if (!write) {
		uint64_t lo = off >> d->lba_shift, hi = (off + len - 1) >> d->lba_shift, bad = 0;
		pthread_mutex_lock(&d->lock);
		bool hit = media_hit(d, lo, hi, &bad);
		if (hit)
			log_media_error(d, bad, hi - lo + 1);
		pthread_mutex_unlock(&d->lock);
		if (hit)
			return -EIO;
	}
	pace(d, len, write);
	if (write)
		atomic_store(&d->written, 1);
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(d->file_fd, buf + done, len - done, (off_t)(off + done))
				  : pread(d->file_fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int drive_sync(void *obj)
{
	struct sim_drive *d = obj;
	if (atomic_load(&d->gone))
		return -EIO;
	if (fdatasync(d->file_fd) < 0)
		return -errno;
	/* the tools that write metadata (mkfs, wipefs, mdadm) flush before
	 * they close the device: udev's watch sees the close */
	if (atomic_exchange(&d->written, 0))
		drive_udev_change(d);
	return 0;
}

uint64_t drive_size(void *obj)
{
	return ((struct sim_drive *)obj)->bytes;
}

int drive_fault_media(struct sim_drive *d, const char *range, char *msg, size_t len)
{
	uint64_t lo, hi, nlbas = d->bytes >> d->lba_shift;
	char extra;
	int n = range ? sscanf(range, "%" SCNu64 "-%" SCNu64 "%c", &lo, &hi, &extra) : 0;
	if (n == 1)
		hi = lo;
	if ((n != 1 && n != 2) || range[0] == '-' || strchr(range, '+') || lo > hi || hi >= nlbas) {
		snprintf(msg, len, "%s: media-error takes LBA or LBA-LBA within 0-%" PRIu64 ", not '%s'", d->name, nlbas - 1,
			 range ? range : "");
		return -EINVAL;
	}
	pthread_mutex_lock(&d->lock);
	int rc = d->nmedia < DRIVE_MEDIA_RANGES ? 0 : -ENOSPC;
	if (rc == 0) {
		d->media_lo[d->nmedia] = lo;
		d->media_hi[d->nmedia] = hi;
		d->nmedia++;
	}
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		snprintf(msg, len, "%s: at most %d media error ranges", d->name, DRIVE_MEDIA_RANGES);
	else
		snprintf(msg, len, "%s: reads of LBA %" PRIu64 "-%" PRIu64 " fail (unrecovered read error)", d->name, lo, hi);
	return rc;
}

int drive_fault_slow(struct sim_drive *d, const char *factor, char *msg, size_t len)
{
	int f;
	char extra;
	if (!factor || sscanf(factor, "%d%c", &f, &extra) != 1 || f < 1 || f > MAX_SLOW) {
		snprintf(msg, len, "%s: slow takes a FACTOR from 1 to %d, not '%s'", d->name, MAX_SLOW, factor ? factor : "");
		return -EINVAL;
	}
	atomic_store(&d->slow, f);
	snprintf(msg, len, "%s: bandwidth divided by %d", d->name, f);
	return 0;
}

void drive_fault_clear_io(struct sim_drive *d)
{
	pthread_mutex_lock(&d->lock);
	d->nmedia = 0;
	pthread_mutex_unlock(&d->lock);
	atomic_store(&d->slow, 0);
}
