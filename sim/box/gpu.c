/* A simulated 7900 XTX: its VRAM (a sparse memfd the daemon and processes
 * share: BAR0 and every VRAM mapping are views of it), its MMIO BAR, and
 * the VRAM allocator the simulated kernel uses. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sim/box/box.h"

#define BAR0_BYTES (32ull << 30)	/* resizable BAR: the power of two above 24 GiB */

uint64_t box_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct sim_gpu *box_gpu_by_id(struct sim_box *b, uint32_t gpu_id)
{
	for (int i = 0; i < b->ngpus; i++)
		if (b->gpu[i].gpu_id == gpu_id)
			return &b->gpu[i];
	return NULL;
}

/* A BAR: the device's sysfs resourceN file, sparse, which the daemon maps
 * as the GPU's memory and any process can map as the BAR itself (only
 * touched pages cost host memory). */
static int bar_file(struct sim_box *b, struct sim_gpu *g, int bar, uint64_t size, int *fd, uint8_t **map)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/sys/%s", b->state, g->sysdir);
	int rc = sysfs_mkdirs(path);
	if (rc < 0)
		return rc;
	snprintf(path + strlen(path), sizeof path - strlen(path), "/resource%d", bar);
	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*fd < 0)
		return -errno;
	if (ftruncate(*fd, (off_t)size) < 0) {
		int e = -errno;
		close(*fd);
		return e;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, *fd, 0);
	if (p == MAP_FAILED) {
		int e = -errno;
		close(*fd);
		return e;
	}
	*map = p;
	return 0;
}

int gpu_init(struct sim_box *b, struct sim_gpu *g, int index)
{
	memset(g, 0, sizeof *g);
	g->index = index;
	/* KFD derives gpu_id from a hash of the device's properties; any stable,
	 * distinct, non-zero value behaves the same for its users */
	g->gpu_id = 0x2a00u + (uint32_t)index * 0x0101u + 0x0d;
	sim_gpu_bdf(index, g->bdf);
	if (sim_gpu_sysfs_dir(index, g->sysdir, sizeof g->sysdir) < 0)
		return -EINVAL;
	g->card_minor = index;
	g->render_minor = 128 + index;
	g->numa_node = sim_gpu_slot(index)->numa_node;
	g->link_width = 16;
	g->link_speed_gts = 16;
	pthread_mutex_init(&g->vram_lock, NULL);
	int rc = bar_file(b, g, 0, BAR0_BYTES, &g->vram_fd, &g->vram);
	if (rc < 0)
		return rc;
	rc = bar_file(b, g, 5, GPU_MMIO_BAR, &g->mmio_fd, &g->mmio);
	if (rc < 0)
		return rc;
	/* the doorbell aperture: KFD hands out its pages per process (through
	 * /dev/kfd); the BAR file is there for tools that look at it */
	int db_fd;
	uint8_t *db;
	rc = bar_file(b, g, 2, GPU_DOORBELL_BAR, &db_fd, &db);
	if (rc < 0)
		return rc;
	munmap(db, GPU_DOORBELL_BAR);
	close(db_fd);
	g->vram_free = calloc(1, sizeof *g->vram_free);
	if (!g->vram_free)
		return -ENOMEM;
	g->vram_free->start = 0;
	g->vram_free->size = GPU_VRAM_BYTES;
	return 0;
}

/* First fit over the sorted free list. */
int gpu_vram_alloc(struct sim_gpu *g, uint64_t size, uint64_t align, uint64_t *offset)
{
	if (size == 0 || align == 0 || (align & (align - 1)))
		return -EINVAL;
	int rc = -ENOMEM;
	pthread_mutex_lock(&g->vram_lock);
	for (struct vram_extent **pp = &g->vram_free; *pp; pp = &(*pp)->next) {
		struct vram_extent *e = *pp;
		uint64_t start = (e->start + align - 1) & ~(align - 1);
		if (start - e->start > e->size || e->size - (start - e->start) < size)
			continue;
		uint64_t end = start + size, e_end = e->start + e->size;
		if (end < e_end && start > e->start) {
			struct vram_extent *tail = malloc(sizeof *tail);
			if (!tail)
				break;
			tail->start = end;
			tail->size = e_end - end;
			tail->next = e->next;
			e->size = start - e->start;
			e->next = tail;
		} else if (start > e->start) {
			e->size = start - e->start;
		} else if (end < e_end) {
			e->start = end;
			e->size = e_end - end;
		} else {
			*pp = e->next;
			free(e);
		}
		*offset = start;
		atomic_fetch_add(&g->vram_used, size);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&g->vram_lock);
	return rc;
}

void gpu_vram_free(struct sim_gpu *g, uint64_t offset, uint64_t size)
{
	/* give the host memory back: freed VRAM reads as zero next time, as
	 * the kernel clears VRAM it hands to a process */
	fallocate(g->vram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)size);
	pthread_mutex_lock(&g->vram_lock);
	struct vram_extent **pp = &g->vram_free;
	while (*pp && (*pp)->start < offset)
		pp = &(*pp)->next;
	struct vram_extent *n = malloc(sizeof *n);
	if (n) {
		n->start = offset;
		n->size = size;
		n->next = *pp;
		*pp = n;
		/* coalesce with the neighbours */
		if (n->next && n->start + n->size == n->next->start) {
			struct vram_extent *x = n->next;
			n->size += x->size;
			n->next = x->next;
			free(x);
		}
		for (struct vram_extent *p = g->vram_free; p && p->next; p = p->next)
			if (p->next == n && p->start + p->size == n->start) {
				p->size += n->size;
				p->next = n->next;
				free(n);
				break;
			}
	}
	atomic_fetch_sub(&g->vram_used, size);
	pthread_mutex_unlock(&g->vram_lock);
}
