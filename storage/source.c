/* Sources: the byte spaces the engine reads.  A plain file is one member;
 * an md RAID0 array is read through its members, mapped as md's raid0
 * personality does for equal-sized members (a single zone). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/internal.h"

#define MD_SB_MAGIC 0xa92b4efcu
#define MD_SB_OFFSET 4096u          /* superblock 1.2 lives 4 KiB into a member */
#define MD_SB_BLOCK 4096u
#define MD_ROLE_SPARE 0xffffu
#define MD_ROLE_FAULTY 0xfffeu
#define MD_FEATURE_RESHAPE_ACTIVE 4u
#define MD_MAX_MEMBERS 64u

int tbs_fail(struct tbs_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
		err->has_at = false;
	}
	return code;
}

void *tbs_alloc(size_t len)
{
	void *p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void tbs_free(void *p, size_t len)
{
	if (p)
		munmap(p, len ? len : 1);
}

/* O_DIRECT needs offsets, lengths and buffers aligned to what the
 * filesystem or device asks (statx DIOALIGN); 4 KiB covers every NVMe
 * sector size and keeps IOs page-aligned. */
static uint32_t dio_align(int fd)
{
	struct statx sx;
	uint32_t a = 4096;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
		if (sx.stx_dio_offset_align > a)
			a = sx.stx_dio_offset_align;
		if (sx.stx_dio_mem_align > a)
			a = sx.stx_dio_mem_align;
	}
	return a;
}

/* O_DIRECT is set on the descriptor tbs_open_input checked (fcntl can), so
 * what is read is what was checked. */
static int set_direct(int fd, const char *path, struct tbs_error *err)
{
	if (fcntl(fd, F_SETFL, O_DIRECT) == 0)
		return 0;
	int e = -errno;
	if (e == -EINVAL)
		return tbs_fail(err, e, "%s: the filesystem refuses O_DIRECT (tmpfs?); use a real filesystem", path);
	return tbs_fail(err, e, "%s: cannot set O_DIRECT: %s", path, strerror(-e));
}

static int open_direct(const char *path, int *fd, uint64_t *size, struct tbs_error *err)
{
	int rc = tbs_open_input(NULL, path, TBS_OPEN_BLOCK, fd, size, err);
	if (rc == 0 && (rc = set_direct(*fd, path, err)) < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

static struct tbs_source *source_new(unsigned n, const char *name)
{
	struct tbs_source *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->m = calloc(n, sizeof *s->m);
	s->name = strdup(name);
	if (!s->m || !s->name) {
		free(s->m);
		free(s->name);
		free(s);
		return NULL;
	}
	s->n = n;
	for (unsigned i = 0; i < n; i++)
		s->m[i].fd = -1;
	return s;
}

void tbs_source_close(struct tbs_source *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++) {
		if (s->m[i].fd >= 0)
			close(s->m[i].fd);
		free(s->m[i].path);
	}
	free(s->m);
	free(s->name);
	free(s);
}

int tbs_source_from_fd(struct tbs_source **out, int fd, uint64_t size, const char *path, struct tbs_error *err)
{
	struct tbs_source *s = source_new(1, path);
	int rc = s ? set_direct(fd, path, err) : tbs_fail(err, -ENOMEM, "%s: out of memory", path);
	if (rc == 0 && !(s->m[0].path = strdup(path)))
		rc = tbs_fail(err, -ENOMEM, "%s: out of memory", path);
	if (rc < 0) {
		close(fd);
		tbs_source_close(s);
		return rc;
	}
	s->m[0].fd = fd;
	s->m[0].size = s->size = size;
	s->align = dio_align(fd);
	*out = s;
	return 0;
}

int tbs_source_open_file(struct tbs_source **out, const char *path, struct tbs_error *err)
{
	int fd;
	uint64_t size;
	int rc = tbs_open_input(NULL, path, TBS_OPEN_BLOCK, &fd, &size, err);
	return rc < 0 ? rc : tbs_source_from_fd(out, fd, size, path, err);
}

uint64_t tbs_source_size(const struct tbs_source *s) { return s->size; }
unsigned tbs_source_members(const struct tbs_source *s) { return s->n; }
uint32_t tbs_source_align(const struct tbs_source *s) { return s->align; }
uint64_t tbs_source_chunk(const struct tbs_source *s) { return s->chunk; }

/* ---- md superblock 1.2 ----------------------------------------------------- */

static uint32_t le32_at(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return le32toh(v);
}

static uint64_t le64_at(const uint8_t *p, size_t off)
{
	uint64_t v;
	memcpy(&v, p + off, 8);
	return le64toh(v);
}

/* md's checksum: the 256-byte superblock plus max_dev 16-bit roles, summed
 * as little-endian 32-bit words (a trailing half word added alone) with the
 * checksum field taken as zero, then the carry folded back in once. */
static uint32_t md_sb_csum(const uint8_t *sb, size_t bytes)
{
	uint64_t sum = 0;
	size_t i = 0;
	for (; i + 4 <= bytes; i += 4)
		sum += i == 216 ? 0 : le32_at(sb, i);
	if (bytes - i == 2)
		sum += (uint32_t)sb[i] | (uint32_t)sb[i + 1] << 8;
	return (uint32_t)((sum & 0xffffffffu) + (sum >> 32));
}

int tbs_md_parse_sb(const void *block, size_t len, struct tbs_md_info *info, struct tbs_error *err)
{
	const uint8_t *sb = block;
	if (len < 256)
		return tbs_fail(err, -EINVAL, "md superblock: block too short");
	if (le32_at(sb, 0) != MD_SB_MAGIC)
		return tbs_fail(err, -EINVAL, "no md superblock (magic %#x, expected %#x)", le32_at(sb, 0), MD_SB_MAGIC);
	if (le32_at(sb, 4) != 1)
		return tbs_fail(err, -EINVAL, "md superblock major version %u, expected 1", le32_at(sb, 4));
	if (le64_at(sb, 144) != MD_SB_OFFSET / 512)
		return tbs_fail(err, -EINVAL, "md superblock says it is at sector %llu, not 8: not metadata 1.2",
				(unsigned long long)le64_at(sb, 144));
	uint32_t max_dev = le32_at(sb, 220);
	if (max_dev > (len - 256) / 2)
		return tbs_fail(err, -EINVAL, "md superblock: max_dev %u does not fit the block", max_dev);
	uint32_t want = md_sb_csum(sb, 256 + (size_t)max_dev * 2), have = le32_at(sb, 216);
	if (want != have)
		return tbs_fail(err, -EINVAL, "md superblock checksum %#x, computed %#x", have, want);
	if (le32_at(sb, 8) & MD_FEATURE_RESHAPE_ACTIVE)
		return tbs_fail(err, -EINVAL, "md array is being reshaped; refusing to read it directly");
	info->level = le32_at(sb, 72);
	if (info->level != 0)
		return tbs_fail(err, -EINVAL, "md array is RAID level %d, not RAID0", (int)info->level);
	info->raid_disks = le32_at(sb, 92);
	if (info->raid_disks == 0 || info->raid_disks > MD_MAX_MEMBERS)
		return tbs_fail(err, -EINVAL, "md superblock: raid_disks %u out of range", info->raid_disks);
	uint32_t chunk_sectors = le32_at(sb, 88);
	info->chunk_bytes = (uint64_t)chunk_sectors * 512;
	if (chunk_sectors == 0 || info->chunk_bytes % 4096)
		return tbs_fail(err, -EINVAL, "md superblock: chunk of %u sectors is not a multiple of 4 KiB",
				chunk_sectors);
	uint64_t data_offset = le64_at(sb, 128), data_size = le64_at(sb, 136);
	if (data_offset < 16 || data_offset > (UINT64_MAX >> 10) || data_size > (UINT64_MAX >> 10) ||
	    data_offset % 8)
		return tbs_fail(err, -EINVAL, "md superblock: data offset %llu sectors is invalid",
				(unsigned long long)data_offset);
	info->data_offset_bytes = data_offset * 512;
	info->data_size_bytes = data_size * 512;
	uint32_t dev_number = le32_at(sb, 160);
	if (dev_number >= max_dev)
		return tbs_fail(err, -EINVAL, "md superblock: dev_number %u beyond max_dev %u", dev_number, max_dev);
	uint32_t role = (uint32_t)sb[256 + 2 * dev_number] | (uint32_t)sb[257 + 2 * dev_number] << 8;
	if (role == MD_ROLE_SPARE || role == MD_ROLE_FAULTY)
		return tbs_fail(err, -EINVAL, "md member is %s, not an active RAID0 member",
				role == MD_ROLE_SPARE ? "a spare" : "marked faulty");
	if (role >= info->raid_disks)
		return tbs_fail(err, -EINVAL, "md member role %u beyond raid_disks %u", role, info->raid_disks);
	info->role = role;
	memcpy(info->set_uuid, sb + 16, 16);
	return 0;
}

void tbs_md_map(uint64_t chunk_bytes, unsigned members, uint64_t data_offset, uint64_t off,
		unsigned *member, uint64_t *member_off)
{
	uint64_t chunk = off / chunk_bytes;
	*member = (unsigned)(chunk % members);
	*member_off = data_offset + chunk / members * chunk_bytes + off % chunk_bytes;
}

void tbs_source_map(const struct tbs_source *s, uint64_t off, unsigned *member, uint64_t *dev_off,
		    uint64_t *run)
{
	if (!s->chunk) {
		*member = 0;
		*dev_off = off;
		*run = s->size - off;
		return;
	}
	tbs_md_map(s->chunk, s->n, 0, off, member, dev_off);
	*dev_off += s->m[*member].data_offset;
	*run = s->chunk - off % s->chunk;
}

uint64_t tbs_source_unmap(const struct tbs_source *s, unsigned member, uint64_t dev_off)
{
	if (!s->chunk)
		return dev_off;
	uint64_t rel = dev_off - s->m[member].data_offset;
	return (rel / s->chunk * s->n + member) * s->chunk + rel % s->chunk;
}

static int read_member_sb(const char *path, int fd, uint64_t dev_size, struct tbs_md_info *info,
			  struct tbs_error *err)
{
	void *block = tbs_alloc(MD_SB_BLOCK);
	if (!block)
		return tbs_fail(err, -ENOMEM, "%s: out of memory", path);
	ssize_t n = pread(fd, block, MD_SB_BLOCK, MD_SB_OFFSET);
	int rc;
	if (n != (ssize_t)MD_SB_BLOCK) {
		rc = tbs_fail(err, n < 0 ? -errno : -EINVAL, "%s: cannot read the md superblock: %s", path,
			      n < 0 ? strerror(errno) : "device too small");
	} else if ((rc = tbs_md_parse_sb(block, MD_SB_BLOCK, info, err)) < 0) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		tbs_fail(err, rc, "%s: %s", path, why);
	} else if (info->data_offset_bytes > dev_size ||
		   info->data_size_bytes > dev_size - info->data_offset_bytes) {
		rc = tbs_fail(err, -EINVAL, "%s: md data area ends beyond the device (%llu bytes)", path,
			      (unsigned long long)dev_size);
	}
	tbs_free(block, MD_SB_BLOCK);
	return rc;
}

/* Each member's superblock must name the same array; roles must be distinct
 * and all present; members must be equal-sized (md's single-zone case). */
static int md_assemble(struct tbs_source *s, const char *const *paths, const struct tbs_md_info *info,
		       unsigned count, struct tbs_error *err)
{
	unsigned n = info[0].raid_disks;
	for (unsigned i = 1; i < count; i++)
		if (memcmp(info[i].set_uuid, info[0].set_uuid, 16) || info[i].raid_disks != n ||
		    info[i].chunk_bytes != info[0].chunk_bytes)
			return tbs_fail(err, -EINVAL, "%s and %s belong to different md arrays", paths[0], paths[i]);
	int where[MD_MAX_MEMBERS];
	for (unsigned r = 0; r < n; r++)
		where[r] = -1;
	for (unsigned i = 0; i < count; i++) {
		if (where[info[i].role] >= 0)
			return tbs_fail(err, -EINVAL, "%s and %s both claim RAID0 member %u", paths[where[info[i].role]],
					paths[i], info[i].role);
		where[info[i].role] = (int)i;
	}
	for (unsigned r = 0; r < n; r++)
		if (where[r] < 0)
			return tbs_fail(err, -ENODEV, "md RAID0 member %u of %u is missing (have %u of its devices)", r,
					n, count);
	uint64_t per = info[0].data_size_bytes / info[0].chunk_bytes * info[0].chunk_bytes;
	for (unsigned i = 0; i < count; i++)
		if (info[i].data_size_bytes / info[i].chunk_bytes * info[i].chunk_bytes != per)
			return tbs_fail(err, -EINVAL,
					"%s: md members of unequal size (a multi-zone RAID0) are not supported", paths[i]);
	s->chunk = info[0].chunk_bytes;
	s->size = per * n;
	return 0;
}

int tbs_source_open_md(struct tbs_source **out, const char *const *paths, unsigned count,
		       struct tbs_error *err)
{
	if (count == 0 || count > MD_MAX_MEMBERS)
		return tbs_fail(err, -EINVAL, "an md RAID0 needs 1 to %u members, not %u", MD_MAX_MEMBERS, count);
	char name[300];
	snprintf(name, sizeof name, "md:%s", paths[0]);
	struct tbs_source *s = source_new(count, name);
	struct tbs_md_info *info = calloc(count, sizeof *info);
	int *fds = calloc(count, sizeof *fds);
	uint64_t *sizes = calloc(count, sizeof *sizes);
	int rc = 0;
	if (!s || !info || !fds || !sizes) {
		rc = tbs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < count; i++)
		fds[i] = -1;
	s->align = 4096;
	for (unsigned i = 0; i < count && rc == 0; i++) {
		rc = open_direct(paths[i], &fds[i], &sizes[i], err);
		if (rc == 0)
			rc = read_member_sb(paths[i], fds[i], sizes[i], &info[i], err);
		if (rc == 0 && dio_align(fds[i]) > s->align)
			s->align = dio_align(fds[i]);
	}
	/* With fewer devices than the array has, md_assemble names the missing one. */
	if (rc == 0 && count > info[0].raid_disks)
		rc = tbs_fail(err, -EINVAL, "md array has %u members, %u given", info[0].raid_disks, count);
	if (rc == 0)
		rc = md_assemble(s, paths, info, count, err);
	if (rc == 0 && s->chunk % s->align)
		rc = tbs_fail(err, -EINVAL, "md chunk %llu is not a multiple of the IO alignment %u",
			      (unsigned long long)s->chunk, s->align);
	for (unsigned i = 0; i < count && rc == 0; i++) {
		struct tbs_member *m = &s->m[info[i].role];
		m->fd = fds[i];
		fds[i] = -1;
		m->data_offset = info[i].data_offset_bytes;
		m->size = s->size / count;
		if (!(m->path = strdup(paths[i])))
			rc = tbs_fail(err, -ENOMEM, "out of memory");
	}
out:
	for (unsigned i = 0; fds && i < count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(info);
	free(sizes);
	if (rc < 0) {
		tbs_source_close(s);
		return rc;
	}
	*out = s;
	return 0;
}
