/* The box's NVMe drives: PCIe controllers behind root ports of the EPYC,
 * their sysfs files as Linux's nvme driver lays them out (drivers/nvme/host
 * core.c and sysfs.c, without native multipath: the namespace's disk hangs
 * under its controller), and blocks kept in sparse files behind loop
 * devices, so that reads and writes are the kernel's own block semantics
 * (sizes, O_DIRECT alignment, io_uring). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <nvme/types.h>

#include "sim/box/blkfs.h"
#include "sim/box/drives.h"
#include "sim/box/md.h"
#include "sim/box/pci.h"
#include "sim/box/udev.h"

#define SAMSUNG_PCI_VENDOR 0x144d
#define DRIVE_ROOT_BUS 0xc0		/* the drives' root complex: 0000:c0 */
#define THERMAL_FAULT_MC 86850		/* above the composite's critical limit (temp1_crit) */

static const char *model_of(int i)
{
	return i < SIM_DATA_DRIVES ? "Samsung SSD 990 PRO 2TB" : "Samsung SSD 980 PRO 500GB";
}

static void drive_identity(struct sim_drive *d, int i, int instance)
{
	d->index = i;
	d->instance = instance;
	snprintf(d->name, sizeof d->name, "nvme%d", instance);
	/* root port 0000:c0:01.(i+1), the drive on the bus below it */
	snprintf(d->bdf, sizeof d->bdf, "0000:%02x:00.0", DRIVE_ROOT_BUS + 1 + i);
	snprintf(d->pcidir, sizeof d->pcidir, "devices/pci0000:%02x/0000:%02x:01.%d/%s", DRIVE_ROOT_BUS, DRIVE_ROOT_BUS,
		 i + 1, d->bdf);
	snprintf(d->ctrldir, sizeof d->ctrldir, "%s/nvme/%s", d->pcidir, d->name);
	snprintf(d->model, sizeof d->model, "%s", model_of(i));
	snprintf(d->serial, sizeof d->serial, "S6B0NL0T%06d", 101 + i);
	snprintf(d->firmware, sizeof d->firmware, "%s", i < SIM_DATA_DRIVES ? "4B2QJXD7" : "5B2QGXA7");
	d->pci_device = i < SIM_DATA_DRIVES ? 0xa80c : 0xa80a;
	/* EUI-64 under Samsung's OUI (00-25-38), NGUID its extension */
	static const uint8_t oui[3] = { 0x00, 0x25, 0x38 };
	memcpy(d->eui64, oui, 3);
	d->eui64[3] = 0x5a;
	d->eui64[7] = (uint8_t)(0x10 + i);
	memcpy(d->nguid, d->eui64, 8);
	d->nguid[15] = (uint8_t)(0x80 + i);
	d->lba_shift = 9;
	d->numa_node = 1;	/* 0000:c0 is the second half of the EPYC's root complexes */
	d->loop_fd = d->loop_nr = -1;
}

/* ---- blocks: a sparse file behind a loop device ---------------------------------- */

static int backing_file(const struct sim_box *b, const struct sim_drive *d, uint64_t bytes, int *fd_out)
{
	char dir[PATH_MAX], path[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/drives", b->state);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (snprintf(path, sizeof path, "%s/%s.img", dir, d->serial) >= (int)sizeof path)
		return -ENAMETOOLONG;
	/* a drive keeps its blocks across restarts of the box (an array built
	 * on it assembles again), whatever name the kernel gives it then; one
	 * of another size starts empty */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || ((uint64_t)st.st_size != bytes && (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)bytes) < 0))) {
		int e = -errno;
		close(fd);
		return e;
	}
	*fd_out = fd;
	return 0;
}

/* Attach a free loop device to the file: LOOP_CONFIGURE with autoclear,
 * so the device detaches itself when the daemon's descriptor closes, even
 * if the daemon is killed. */
int loop_attach(int file_fd, unsigned block_size, const char *file_name, int *fd_out, int *nr_out)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	int rc = -EBUSY;
	for (int attempt = 0; attempt < 16 && rc == -EBUSY; attempt++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			rc = -errno;
			break;
		}
		char dev[64];
		snprintf(dev, sizeof dev, "/dev/loop%d", nr);
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		struct loop_config cfg = { .fd = (uint32_t)file_fd, .block_size = block_size };
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		snprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", file_name);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			*fd_out = fd;
			*nr_out = nr;
			rc = 0;
		} else {
			rc = errno == EBUSY ? -EBUSY : -errno;	/* another took it first: the next free one */
			close(fd);
		}
	}
	close(ctl);
	return rc;
}

/* ---- sysfs ------------------------------------------------------------------------- */

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static int pci_files(struct sim_box *b, const struct sim_drive *d)
{
	struct pci_fn port, ep;
	memset(&port, 0, sizeof port);
	memset(&ep, 0, sizeof ep);
	uint8_t bus = (uint8_t)(DRIVE_ROOT_BUS + 1 + d->index);
	/* the root port: AMD's GPP bridge (1022:1483), x4 16 GT/s */
	snprintf(port.bdf, sizeof port.bdf, "0000:%02x:01.%d", DRIVE_ROOT_BUS, d->index + 1);
	port.bus = DRIVE_ROOT_BUS;
	port.dev = 1;
	port.fn = (uint8_t)(d->index + 1);
	port.vendor = port.subsys_vendor = 0x1022;
	port.device = 0x1483;
	port.subsys_device = 0x1453;
	port.class_code = 0x060400;
	port.bridge = port.is_pcie = true;
	port.pcie_type = 4;
	port.secondary = port.subordinate = bus;
	port.numa_node = d->numa_node;
	snprintf(port.driver, sizeof port.driver, "pcieport");
	/* the drive: an NVM Express controller, class 0108 prog-if 02 */
	snprintf(ep.bdf, sizeof ep.bdf, "%s", d->bdf);
	ep.bus = bus;
	ep.vendor = ep.subsys_vendor = SAMSUNG_PCI_VENDOR;
	ep.device = ep.subsys_device = d->pci_device;
	ep.class_code = 0x010802;
	ep.is_pcie = true;
	ep.irq = 60 + d->index;
	ep.numa_node = d->numa_node;
	ep.fallen_off = atomic_load(&d->gone) != 0;
	ep.bar[0] = (struct pci_bar){ .addr = 0xf6000000ull + ((uint64_t)d->index << 20), .size = 16384,
				      .sysfs_flags = 0x140204, .is64 = true };
	snprintf(ep.driver, sizeof ep.driver, "nvme");
	struct pci_fn *fns[2] = { &port, &ep };
	for (int k = 0; k < 2; k++) {
		fns[k]->link_speed = fns[k]->max_link_speed = 16;
		fns[k]->link_width = fns[k]->max_link_width = 4;
	}
	char port_dir[96];
	snprintf(port_dir, sizeof port_dir, "devices/pci0000:%02x/%s", DRIVE_ROOT_BUS, port.bdf);
	int rc = sysfs_pci_function(b, port_dir, &port);
	return rc < 0 ? rc : sysfs_pci_function(b, d->pcidir, &ep);
}

static int ctrl_files(struct sim_box *b, const struct sim_drive *d, const char *state)
{
	const char *c = d->ctrldir;
	char nqn[128];
	snprintf(nqn, sizeof nqn, "nqn.1994-11.com.samsung:nvme:%s:M.2:%s",
		 d->index < SIM_DATA_DRIVES ? "990PRO" : "980PRO", d->serial);
	int rc = 0;
	rc |= sysfs_write(b, c, "dev", "%d:%d\n", NVME_CHAR_MAJOR, d->instance);
	rc |= sysfs_write(b, c, "uevent", "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nNVME_TRTYPE=pcie\n", NVME_CHAR_MAJOR,
			  d->instance, d->name);
	rc |= sysfs_write(b, c, "model", "%s\n", d->model);
	rc |= sysfs_write(b, c, "serial", "%s\n", d->serial);
	rc |= sysfs_write(b, c, "firmware_rev", "%s\n", d->firmware);
	rc |= sysfs_write(b, c, "address", "%s\n", d->bdf);
	rc |= sysfs_write(b, c, "state", "%s\n", state);
	rc |= sysfs_write(b, c, "transport", "pcie\n");
	rc |= sysfs_write(b, c, "numa_node", "%d\n", d->numa_node);
	rc |= sysfs_write(b, c, "cntlid", "%d\n", 6);
	rc |= sysfs_write(b, c, "cntrltype", "io\n");
	rc |= sysfs_write(b, c, "dctype", "none\n");
	rc |= sysfs_write(b, c, "queue_count", "%d\n", 33);
	rc |= sysfs_write(b, c, "sqsize", "%d\n", 1023);
	rc |= sysfs_write(b, c, "kato", "0\n");
	rc |= sysfs_write(b, c, "subsysnqn", "%s\n", nqn);
	rc |= sysfs_link(b, c, "device", d->pcidir);
	rc |= sysfs_link(b, c, "subsystem", "class/nvme");
	rc |= sysfs_link(b, "class/nvme", d->name, c);
	/* one subsystem per drive (a single-controller subsystem, as a client SSD is) */
	char subsys[96], name[32];
	snprintf(name, sizeof name, "nvme-subsys%d", d->instance);
	snprintf(subsys, sizeof subsys, "devices/virtual/nvme-subsystem/%s", name);
	rc |= sysfs_write(b, subsys, "subsysnqn", "%s\n", nqn);
	rc |= sysfs_write(b, subsys, "model", "%s\n", d->model);
	rc |= sysfs_write(b, subsys, "serial", "%s\n", d->serial);
	rc |= sysfs_write(b, subsys, "firmware_rev", "%s\n", d->firmware);
	rc |= sysfs_write(b, subsys, "subsystype", "nvm\n");
	rc |= sysfs_write(b, subsys, "iopolicy", "numa\n");
	rc |= sysfs_link(b, subsys, d->name, c);
	rc |= sysfs_link(b, subsys, "subsystem", "class/nvme-subsystem");
	rc |= sysfs_link(b, "class/nvme-subsystem", name, subsys);
	return rc ? -EIO : 0;
}

static int ns_files(struct sim_box *b, const struct sim_drive *d)
{
	char ns[224], disk[32], q[240], mm[32];
	snprintf(disk, sizeof disk, "%sn1", d->name);
	snprintf(ns, sizeof ns, "%s/%s", d->ctrldir, disk);
	snprintf(q, sizeof q, "%s/queue", ns);
	snprintf(mm, sizeof mm, "%d:%d", LOOP_MAJOR, d->loop_nr);
	unsigned lbs = 1u << d->lba_shift;
	char eui[17], nguid[33];
	hex(eui, d->eui64, 8);
	hex(nguid, d->nguid, 16);
	int rc = 0;
	rc |= sysfs_write(b, ns, "dev", "%s\n", mm);
	rc |= sysfs_write(b, ns, "uevent", "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nDEVTYPE=disk\nDISKSEQ=%d\n", LOOP_MAJOR,
			  d->loop_nr, disk, 20 + d->instance);
	rc |= sysfs_write(b, ns, "size", "%llu\n", (unsigned long long)(d->bytes >> 9));
	rc |= sysfs_write(b, ns, "ro", "0\n");
	rc |= sysfs_write(b, ns, "removable", "0\n");
	rc |= sysfs_write(b, ns, "hidden", "0\n");
	rc |= sysfs_write(b, ns, "range", "0\n");
	rc |= sysfs_write(b, ns, "ext_range", "256\n");
	rc |= sysfs_write(b, ns, "capability", "0\n");
	rc |= sysfs_write(b, ns, "alignment_offset", "0\n");
	rc |= sysfs_write(b, ns, "discard_alignment", "0\n");
	rc |= sysfs_write(b, ns, "nsid", "1\n");
	rc |= sysfs_write(b, ns, "wwid", "eui.%s\n", eui);
	rc |= sysfs_write(b, ns, "eui", "%.2s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s\n", eui, eui + 2, eui + 4, eui + 6,
			  eui + 8, eui + 10, eui + 12, eui + 14);
	rc |= sysfs_write(b, ns, "nguid", "%.8s-%.4s-%.4s-%.4s-%.12s\n", nguid, nguid + 8, nguid + 12, nguid + 16,
			  nguid + 20);
	rc |= sysfs_write(b, q, "logical_block_size", "%u\n", lbs);
	rc |= sysfs_write(b, q, "physical_block_size", "%u\n", lbs);
	rc |= sysfs_write(b, q, "hw_sector_size", "%u\n", lbs);
	rc |= sysfs_write(b, q, "minimum_io_size", "%u\n", lbs);
	rc |= sysfs_write(b, q, "optimal_io_size", "0\n");
	rc |= sysfs_write(b, q, "max_hw_sectors_kb", "%u\n", 128);	/* MDTS 5 with 4 KiB pages */
	rc |= sysfs_write(b, q, "max_sectors_kb", "%u\n", 128);
	rc |= sysfs_write(b, q, "max_segments", "%u\n", 33);
	rc |= sysfs_write(b, q, "nr_requests", "%u\n", 1023);
	rc |= sysfs_write(b, q, "rotational", "0\n");
	rc |= sysfs_write(b, q, "scheduler", "[none] mq-deadline\n");
	rc |= sysfs_write(b, q, "discard_granularity", "%u\n", lbs);
	rc |= sysfs_write(b, q, "discard_max_bytes", "2199023255040\n");
	rc |= sysfs_write(b, q, "write_cache", "write back\n");
	rc |= sysfs_write(b, q, "nomerges", "0\n");
	rc |= sysfs_write(b, q, "read_ahead_kb", "128\n");
	rc |= sysfs_write(b, ns, "stat", "%8u %8u %8u %8u %8u %8u %8u %8u %8u %8u %8u\n", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	rc |= sysfs_link(b, ns, "device", d->ctrldir);
	rc |= sysfs_link(b, ns, "subsystem", "class/block");
	rc |= sysfs_link(b, "block", disk, ns);
	rc |= sysfs_link(b, "class/block", disk, ns);
	rc |= sysfs_link(b, "dev/block", mm, ns);
	return rc ? -EIO : 0;
}

/* /dev/nvmeN (the box answers it), /dev/nvmeNn1 (the loop device's node),
 * and the /dev/disk/by-id links udev's 60-persistent-storage rules make. */
static int dev_files(struct sim_box *b, const struct sim_drive *d)
{
	char path[PATH_MAX], dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/dev/disk/by-id", b->state);
	int rc = sysfs_mkdirs(dir);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof path, "%s/dev/%s", b->state, d->name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(path, sizeof path, "%s/dev/%sn1", b->state, d->name);
	unlink(path);
	if (mknod(path, S_IFBLK | 0660, makedev(LOOP_MAJOR, (unsigned)d->loop_nr)) < 0)
		return -errno;
	char model[41], link[PATH_MAX], target[32], eui[17];
	snprintf(model, sizeof model, "%s", d->model);
	for (char *s = model; *s; s++)
		if (*s == ' ')
			*s = '_';
	snprintf(target, sizeof target, "../../%sn1", d->name);
	hex(eui, d->eui64, 8);
	snprintf(link, sizeof link, "%s/nvme-%s_%s", dir, model, d->serial);
	unlink(link);
	if (symlink(target, link) < 0)
		return -errno;
	snprintf(link, sizeof link, "%s/nvme-eui.%s", dir, eui);
	unlink(link);
	return symlink(target, link) < 0 ? -errno : 0;
}

/* The links of the filesystem on the drive, from its blocks (its backing
 * file, read on a description of its own: libblkid seeks).  A dead drive
 * has none: udev's remove event drops them. */
void drive_udev_change(struct sim_drive *d)
{
	char kname[24], self[64];
	snprintf(kname, sizeof kname, "%sn1", d->name);
	snprintf(self, sizeof self, "/proc/self/fd/%d", d->file_fd);
	int fd = atomic_load(&d->gone) ? -1 : open(self, O_RDONLY | O_CLOEXEC);
	udev_change(d->box, kname, fd);
	if (fd >= 0)
		close(fd);
}

/* The drives' blocks: files the daemon serves (drive_io.c) at STATE/blk. */
static struct blkfs *drive_fs;

int drives_build(struct sim_box *b, uint64_t bytes, const int order[SIM_DRIVES], char *err, size_t errlen)
{
	b->ndrives = 0;
	b->drive = calloc(SIM_DRIVES, sizeof *b->drive);
	if (!b->drive) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	struct blkfile files[SIM_DRIVES];
	memset(files, 0, sizeof files);
	for (int i = 0; i < SIM_DRIVES; i++) {
		struct sim_drive *d = &b->drive[i];
		int instance = 0;
		while (instance < SIM_DRIVES - 1 && order[instance] != i)
			instance++;
		drive_identity(d, i, instance);
		pthread_mutex_init(&d->lock, NULL);
		d->bytes = bytes;
		d->file_fd = -1;
		d->box = b;
		d->errors = calloc(DRIVE_ERROR_LOG, sizeof *d->errors);
		b->ndrives = i + 1;
		if (!d->errors) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		int rc = backing_file(b, d, bytes, &d->file_fd);
		if (rc < 0) {
			snprintf(err, errlen, "%s: cannot create its backing file in %s/drives: %s", d->name, b->state,
				 strerror(-rc));
			return rc;
		}
		files[i] = (struct blkfile){ .obj = d, .io = drive_io, .sync = drive_sync, .size = drive_size };
		snprintf(files[i].name, sizeof files[i].name, "%s", d->name);
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/blk", b->state);
	int rc = blkfs_mount(&drive_fs, dir, files, SIM_DRIVES, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = udev_start(b)) < 0) {
		snprintf(err, errlen, "cannot make %s/dev/disk: %s", b->state, strerror(-rc));
		return rc;
	}
	for (int k = 0; k < SIM_DRIVES; k++) {	/* in probe order, as the kernel logs them */
		int i = order[k];
		struct sim_drive *d = &b->drive[i];
		int fd = open(blkfs_path(drive_fs, (unsigned)i), O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "%s: cannot open %s: %s", d->name, blkfs_path(drive_fs, (unsigned)i),
				 strerror(errno));
			return -errno;
		}
		char file[64];
		snprintf(file, sizeof file, "tb-sim %s", d->name);
		rc = loop_attach(fd, 1u << d->lba_shift, file, &d->loop_fd, &d->loop_nr);
		close(fd);	/* the loop device holds the file */
		if (rc < 0) {
			snprintf(err, errlen, "%s: cannot attach a loop device (the box's drives need root and loop "
					      "devices): %s", d->name, strerror(-rc));
			return rc;
		}
		if ((rc = pci_files(b, d)) < 0 || (rc = ctrl_files(b, d, "live")) < 0 || (rc = ns_files(b, d)) < 0 ||
		    (rc = dev_files(b, d)) < 0) {
			snprintf(err, errlen, "%s: cannot build its files: %s", d->name, strerror(-rc));
			return rc;
		}
		drive_udev_change(d);	/* coldplug: the "add" event */
		klog("nvme %s: pci function %s", d->name, d->bdf);
		klog("nvme %s: %s %s, %llu MiB, 1/0/0 default/read/poll queues", d->name, d->model, d->serial,
		     (unsigned long long)(bytes >> 20));
	}
	return 0;
}

void drives_release(struct sim_box *b)
{
	for (int i = 0; i < b->ndrives; i++) {
		struct sim_drive *d = &b->drive[i];
		if (d->loop_fd >= 0) {
			/* detach now if nobody else has it open; else at its last close (autoclear) */
			ioctl(d->loop_fd, LOOP_CLR_FD, 0);
			close(d->loop_fd);
			d->loop_fd = -1;
		}
	}
	blkfs_unmount(drive_fs);
	/* the backing files and the drives stay: the FUSE threads may still
	 * answer a loop device that has not let go yet, until the daemon exits */
}

struct sim_drive *drive_by_instance(struct sim_box *b, int instance)
{
	for (int i = 0; i < b->ndrives; i++)
		if (b->drive[i].instance == instance)
			return &b->drive[i];
	return NULL;
}

/* ---- live state ------------------------------------------------------------------ */

int drive_io_stat(const struct sim_drive *d, uint64_t *reads, uint64_t *read_sectors, uint64_t *writes,
		  uint64_t *write_sectors)
{
	char path[64];
	snprintf(path, sizeof path, "/sys/block/loop%d/stat", d->loop_nr);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	unsigned long long r, rm, rs, rt, w, wm, ws;
	int n = fscanf(f, "%llu %llu %llu %llu %llu %llu %llu", &r, &rm, &rs, &rt, &w, &wm, &ws);
	fclose(f);
	if (n != 7)
		return -EIO;
	*reads = r;
	*read_sectors = rs;
	*writes = w;
	*write_sectors = ws;
	return 0;
}

void drives_tick(struct sim_box *b)
{
	for (int i = 0; i < b->ndrives; i++) {
		struct sim_drive *d = &b->drive[i];
		char ns[224], line[256];
		snprintf(ns, sizeof ns, "%s/%sn1", d->ctrldir, d->name);
		char path[64];
		snprintf(path, sizeof path, "/sys/block/loop%d/stat", d->loop_nr);
		FILE *f = fopen(path, "re");
		if (f) {
			if (fgets(line, sizeof line, f))
				sysfs_write(b, ns, "stat", "%s", line);
			fclose(f);
		}
		/* a writer that closed without flushing: udev's watch saw it */
		if (atomic_exchange(&d->written, 0))
			drive_udev_change(d);
	}
	md_udev_tick(b);
}

int drive_temperature_mc(const struct sim_drive *d)
{
	return atomic_load(&d->thermal) ? THERMAL_FAULT_MC : atomic_load(&d->temp_mc);
}

size_t drives_status_json(struct sim_box *b, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "[");
	for (int i = 0; i < b->ndrives && n < len; i++) {
		const struct sim_drive *d = &b->drive[i];
		n += (size_t)snprintf(out + n, len - n,
				      "%s{\"name\":\"%s\",\"pci\":\"%s\",\"role\":\"%s\",\"model\":\"%s\",\"serial\":\"%s\","
				      "\"bytes\":%llu,\"block\":\"/dev/%sn1\",\"loop\":\"/dev/loop%d\",\"temperature_c\":%.1f,"
				      "\"media_errors\":%llu,\"thermal\":%s,\"gone\":%s,\"slow\":%d,\"media_error_ranges\":%d}",
				      i ? "," : "", d->name, d->bdf, i < SIM_DATA_DRIVES ? "data" : "boot", d->model, d->serial,
				      (unsigned long long)d->bytes, d->name, d->loop_nr, drive_temperature_mc(d) / 1000.0,
				      (unsigned long long)atomic_load(&d->media_errors), atomic_load(&d->thermal) ? "true" : "false",
				      atomic_load(&d->gone) ? "true" : "false", atomic_load(&d->slow), d->nmedia);
	}
	if (n + 1 < len)
		out[n++] = ']', out[n] = '\0';
	return n < len ? n : len - 1;
}

size_t drives_status_text(struct sim_box *b, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "%-6s %-13s %-5s %-26s %-15s %9s %-12s %8s\n", "drive", "PCI", "role", "model",
				    "serial", "size", "blocks", "temp");
	for (int i = 0; i < b->ndrives && n < len; i++) {
		const struct sim_drive *d = &b->drive[i];
		char blk[24];
		snprintf(blk, sizeof blk, "loop%d", d->loop_nr);
		char slow[24] = "";
		if (atomic_load(&d->slow) > 1)
			snprintf(slow, sizeof slow, "  SLOW /%d", atomic_load(&d->slow));
		n += (size_t)snprintf(out + n, len - n, "%-6s %-13s %-5s %-26s %-15s %5llu MiB %-12s %6.1f C%s%s%s%s\n", d->name,
				      d->bdf, i < SIM_DATA_DRIVES ? "data" : "boot", d->model, d->serial,
				      (unsigned long long)(d->bytes >> 20), blk, drive_temperature_mc(d) / 1000.0,
				      atomic_load(&d->thermal) ? "  OVERHEATING" : "", atomic_load(&d->gone) ? "  GONE" : "", slow,
				      d->nmedia ? "  MEDIA ERRORS" : "");
	}
	return n < len ? n : len - 1;
}

/* ---- faults ------------------------------------------------------------------------ */

int drives_fault(struct sim_box *b, const char *target, const char *kind, const char *arg, char *msg, size_t len)
{
	int inst;
	char extra;
	if (sscanf(target, "nvme%d%c", &inst, &extra) != 1 || !drive_by_instance(b, inst)) {
		snprintf(msg, len, "no drive '%s' (nvme0..nvme%d)", target, b->ndrives - 1);
		return -EINVAL;
	}
	struct sim_drive *d = &b->drive[inst];
	if (!kind) {
		snprintf(msg, len, "%s: which fault? (thermal, gone, media-error, slow or clear)", d->name);
		return -EINVAL;
	}
	if (arg && strcmp(kind, "media-error") && strcmp(kind, "slow")) {
		snprintf(msg, len, "%s: %s takes no argument ('%s')", d->name, kind, arg);
		return -EINVAL;
	}
	if (!strcmp(kind, "media-error"))
		return drive_fault_media(d, arg, msg, len);
	if (!strcmp(kind, "slow"))
		return drive_fault_slow(d, arg, msg, len);
	if (!strcmp(kind, "thermal")) {
		atomic_store(&d->thermal, 1);
		klog("nvme %s: temperature above the critical threshold", d->name);
		snprintf(msg, len, "%s: overheating (composite %.2f C, critical warning set)", d->name, THERMAL_FAULT_MC / 1000.0);
	} else if (!strcmp(kind, "gone")) {
		atomic_store(&d->gone, 1);
		ctrl_files(b, d, "dead");
		pci_files(b, d);
		md_drive_gone(b, d->index);
		drive_udev_change(d);
		klog("nvme %s: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", d->name);
		klog("nvme %s: Removing after probe failure status: -19", d->name);
		snprintf(msg, len, "%s: dropped off the bus", d->name);
	} else if (!strcmp(kind, "clear")) {
		atomic_store(&d->thermal, 0);
		atomic_store(&d->gone, 0);
		drive_fault_clear_io(d);
		ctrl_files(b, d, "live");
		pci_files(b, d);
		drive_udev_change(d);
		snprintf(msg, len, "%s: faults cleared", d->name);
	} else {
		snprintf(msg, len, "unknown drive fault '%s' (thermal, gone, media-error, slow or clear)", kind);
		return -EINVAL;
	}
	return 0;
}
