/* The simulated amdgpu DRM nodes (/dev/dri/renderD*, /dev/dri/card*): the
 * driver version, the AMDGPU_INFO queries libdrm_amdgpu makes (device
 * info, IP blocks, firmware, memory heaps, sensors), GEM buffers and the
 * render node's mmap of KFD buffers. */
#include <amdgpu_drm.h>
#include <drm.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim/kmd/kmd.h"

#define AMDGPU_DRIVER_MAJOR 3
#define AMDGPU_DRIVER_MINOR 57
#define AMDGPU_DRIVER_PATCH 0
#define AMDGPU_FAMILY_GC_11_0_0_ID 145	/* AMDGPU_FAMILY_GC_11_0_0 */
#define GB_ADDR_CONFIG_NAVI31 0x00000545

/* GEM buffers created on this file (libdrm's amdgpu_bo_alloc). */
struct gem {
	uint32_t handle;
	uint64_t size;
	int fd;
	struct gem *next;
};

struct drm_file {
	pthread_mutex_t lock;
	struct gem *gems;
	uint32_t next_handle;
	uint32_t next_ctx;
};

int drm_open(struct conn *c)
{
	struct drm_file *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->next_handle = 1;
	f->next_ctx = 1;
	c->priv = f;
	return 0;
}

void drm_release(struct conn *c)
{
	struct drm_file *f = c->priv;
	if (!f)
		return;
	while (f->gems) {
		struct gem *g = f->gems;
		f->gems = g->next;
		close(g->fd);
		free(g);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- DRM core ioctls ----------------------------------------------------------- */

static int put_string(struct conn *c, uint64_t dst, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len && dst) {
		size_t k = n < *len ? n : *len;
		if (copy_to_user(c, dst, s, k) < 0)
			return -EFAULT;
	}
	*len = n;
	return 0;
}

static long drm_version(struct conn *c, struct drm_version *v)
{
	v->version_major = AMDGPU_DRIVER_MAJOR;
	v->version_minor = AMDGPU_DRIVER_MINOR;
	v->version_patchlevel = AMDGPU_DRIVER_PATCH;
	if (put_string(c, (uint64_t)(uintptr_t)v->name, &v->name_len, "amdgpu") < 0 ||
	    put_string(c, (uint64_t)(uintptr_t)v->date, &v->date_len, "20150101") < 0 ||
	    put_string(c, (uint64_t)(uintptr_t)v->desc, &v->desc_len, "AMD GPU") < 0)
		return -EFAULT;
	return 0;
}

/* ---- AMDGPU_INFO ------------------------------------------------------------------ */

static void device_info(const struct sim_gpu *g, struct drm_amdgpu_info_device *d)
{
	memset(d, 0, sizeof *d);
	d->device_id = PCI_DEVICE_ID;
	d->chip_rev = 0;
	d->external_rev = 0x01;
	d->pci_rev = PCI_REVISION;
	d->family = AMDGPU_FAMILY_GC_11_0_0_ID;
	d->num_shader_engines = 6;
	d->num_shader_arrays_per_engine = 2;
	d->gpu_counter_freq = 100000;		/* kHz */
	d->max_engine_clock = 2500000;		/* kHz */
	d->max_memory_clock = 1250000;
	d->cu_active_number = GPU_CUS;
	/* 6 shader engines x 2 arrays x 8 CUs; engines 4 and 5 fold into columns 2, 3 */
	for (int se = 0; se < 6; se++)
		for (int sa = 0; sa < 2; sa++) {
			d->cu_bitmap[se % 4][sa + (se / 4) * 2] = 0xff;
			d->cu_ao_bitmap[se % 4][sa + (se / 4) * 2] = 0x3;
		}
	d->enabled_rb_pipes_mask = 0xffffff;
	d->num_rb_pipes = 24;
	d->num_hw_gfx_contexts = 8;
	d->ids_flags = 0;
	d->virtual_address_offset = 0x200000;
	d->virtual_address_max = 0x800000000000ull;
	d->virtual_address_alignment = 4096;
	d->pte_fragment_size = 2 << 20;
	d->gart_page_size = 4096;
	d->vram_type = 9;			/* AMDGPU_VRAM_TYPE_GDDR6 */
	d->vram_bit_width = 384;
	d->wave_front_size = 32;
	d->num_shader_visible_vgprs = 1536;
	d->num_cu_per_sh = 8;
	d->num_tcc_blocks = 24;
	d->high_va_offset = 0xffff800000000000ull;
	d->high_va_max = 0xffffffffffe00000ull;
	d->tcc_disabled_mask = 0;
	(void)g;
}

/* Copy min(size, return_size) bytes of the answer to the caller's buffer. */
static long answer(struct conn *c, const struct drm_amdgpu_info *q, const void *data, size_t size)
{
	size_t n = size < q->return_size ? size : q->return_size;
	if (n && copy_to_user(c, q->return_pointer, data, n) < 0)
		return -EFAULT;
	return 0;
}

static long info_hw_ip(struct conn *c, const struct drm_amdgpu_info *q)
{
	struct drm_amdgpu_info_hw_ip ip;
	memset(&ip, 0, sizeof ip);
	switch (q->query_hw_ip.type) {
	case AMDGPU_HW_IP_GFX:
		ip.hw_ip_version_major = 11;
		ip.available_rings = 1;
		ip.ib_start_alignment = 32;
		ip.ib_size_alignment = 32;
		break;
	case AMDGPU_HW_IP_COMPUTE:
		ip.hw_ip_version_major = 11;
		ip.available_rings = 0xf;
		ip.ib_start_alignment = 32;
		ip.ib_size_alignment = 32;
		break;
	case AMDGPU_HW_IP_DMA:
		ip.hw_ip_version_major = 6;
		ip.available_rings = 0x3;
		ip.ib_start_alignment = 256;
		ip.ib_size_alignment = 4;
		break;
	default:
		break;			/* video engines: none available */
	}
	if (q->query_hw_ip.ip_instance > 0)
		return -EINVAL;
	return answer(c, q, &ip, sizeof ip);
}

static long info_fw(struct conn *c, const struct drm_amdgpu_info *q)
{
	struct drm_amdgpu_info_firmware fw = { 0, 0 };
	switch (q->query_fw.fw_type) {
	case AMDGPU_INFO_FW_GFX_ME: fw.ver = 0x000005b0; fw.feature = 29; break;
	case AMDGPU_INFO_FW_GFX_PFP: fw.ver = 0x00000620; fw.feature = 29; break;
	case AMDGPU_INFO_FW_GFX_MEC: fw.ver = 0x00000866; fw.feature = 29; break;
	case AMDGPU_INFO_FW_GFX_RLC: fw.ver = 0x00000071; fw.feature = 1; break;
	case AMDGPU_INFO_FW_SMC: fw.ver = 0x004e6e00; break;
	case AMDGPU_INFO_FW_SDMA: fw.ver = 0x00000015; fw.feature = 60; break;
	case AMDGPU_INFO_FW_SOS: fw.ver = 0x00300000; break;
	case AMDGPU_INFO_FW_ASD: fw.ver = 0x21000110; break;
	default: break;
	}
	return answer(c, q, &fw, sizeof fw);
}

static long info_sensor(struct conn *c, const struct drm_amdgpu_info *q, const struct sim_gpu *g)
{
	uint32_t v;
	switch (q->sensor_info.type) {
	case AMDGPU_INFO_SENSOR_GFX_SCLK: v = 1500; break;
	case AMDGPU_INFO_SENSOR_GFX_MCLK: v = 1249; break;
	case AMDGPU_INFO_SENSOR_GPU_TEMP: v = (uint32_t)atomic_load(&((struct sim_gpu *)g)->temp_edge_mc); break;
	case AMDGPU_INFO_SENSOR_GPU_LOAD: v = (uint32_t)atomic_load(&((struct sim_gpu *)g)->busy_permille) / 10; break;
	case AMDGPU_INFO_SENSOR_GPU_AVG_POWER: v = (uint32_t)atomic_load(&((struct sim_gpu *)g)->power_mw) / 1000; break;
	case AMDGPU_INFO_SENSOR_VDDGFX: v = 1050; break;
	case AMDGPU_INFO_SENSOR_VDDNB: v = 800; break;
	case AMDGPU_INFO_SENSOR_STABLE_PSTATE_GFX_SCLK: v = 1500; break;
	case AMDGPU_INFO_SENSOR_STABLE_PSTATE_GFX_MCLK: v = 1249; break;
	default: return -EINVAL;
	}
	return answer(c, q, &v, sizeof v);
}

static long drm_info(struct conn *c, struct drm_amdgpu_info *q)
{
	struct sim_gpu *g = c->gpu;
	if (!q->return_pointer || !q->return_size)
		return -EINVAL;
	switch (q->query) {
	case AMDGPU_INFO_ACCEL_WORKING: {
		uint32_t v = 1;
		return answer(c, q, &v, sizeof v);
	}
	case AMDGPU_INFO_DEV_INFO: {
		struct drm_amdgpu_info_device d;
		device_info(g, &d);
		return answer(c, q, &d, sizeof d);
	}
	case AMDGPU_INFO_HW_IP_INFO:
		return info_hw_ip(c, q);
	case AMDGPU_INFO_HW_IP_COUNT: {
		uint32_t n = q->query_hw_ip.type <= AMDGPU_HW_IP_DMA ? 1 : 0;
		return answer(c, q, &n, sizeof n);
	}
	case AMDGPU_INFO_FW_VERSION:
		return info_fw(c, q);
	case AMDGPU_INFO_READ_MMR_REG: {
		uint32_t n = q->read_mmr_reg.count, vals[128];
		if (n == 0 || n > 128)
			return -EINVAL;
		for (uint32_t i = 0; i < n; i++)
			vals[i] = q->read_mmr_reg.dword_offset + i == 0x263e ? GB_ADDR_CONFIG_NAVI31 : 0;
		return answer(c, q, vals, n * sizeof vals[0]);
	}
	case AMDGPU_INFO_VRAM_GTT: {
		struct drm_amdgpu_info_vram_gtt v = { GPU_VRAM_BYTES - (256ull << 20), GPU_VRAM_BYTES - (256ull << 20),
						      64ull << 30 };
		return answer(c, q, &v, sizeof v);
	}
	case AMDGPU_INFO_MEMORY: {
		struct drm_amdgpu_memory_info m;
		memset(&m, 0, sizeof m);
		uint64_t used = atomic_load(&g->vram_used);
		m.vram.total_heap_size = GPU_VRAM_BYTES;
		m.vram.usable_heap_size = GPU_VRAM_BYTES - (256ull << 20);
		m.vram.heap_usage = used;
		m.vram.max_allocation = m.vram.usable_heap_size * 3 / 4;
		m.cpu_accessible_vram = m.vram;
		m.gtt.total_heap_size = 64ull << 30;
		m.gtt.usable_heap_size = 63ull << 30;
		m.gtt.max_allocation = m.gtt.usable_heap_size * 3 / 4;
		return answer(c, q, &m, sizeof m);
	}
	case AMDGPU_INFO_VRAM_USAGE:
	case AMDGPU_INFO_VIS_VRAM_USAGE: {
		uint64_t v = atomic_load(&g->vram_used);
		return answer(c, q, &v, sizeof v);
	}
	case AMDGPU_INFO_GTT_USAGE:
	case AMDGPU_INFO_NUM_BYTES_MOVED:
	case AMDGPU_INFO_NUM_EVICTIONS:
	case AMDGPU_INFO_NUM_VRAM_CPU_PAGE_FAULTS: {
		uint64_t v = 0;
		return answer(c, q, &v, sizeof v);
	}
	case AMDGPU_INFO_VRAM_LOST_COUNTER: {
		uint32_t v = (uint32_t)atomic_load(&g->resets);
		return answer(c, q, &v, sizeof v);
	}
	case AMDGPU_INFO_SENSOR:
		return info_sensor(c, q, g);
	case AMDGPU_INFO_TIMESTAMP: {
		uint64_t t = box_now_ns() / 10;
		return answer(c, q, &t, sizeof t);
	}
	case AMDGPU_INFO_NUM_HANDLES:
	case AMDGPU_INFO_RAS_ENABLED_FEATURES: {
		uint64_t v = 0;
		return answer(c, q, &v, sizeof v);
	}
	default:
		return -EINVAL;
	}
}

/* ---- GEM ---------------------------------------------------------------------------- */

static long gem_create(struct conn *c, union drm_amdgpu_gem_create *a)
{
	struct drm_file *f = c->priv;
	uint64_t size = (a->in.bo_size + 4095) & ~4095ull;
	if (!size || size > GPU_VRAM_BYTES)
		return -EINVAL;
	struct gem *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->fd = memfd_create("tb-sim-gem", MFD_CLOEXEC);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)size) < 0) {
		if (g->fd >= 0)
			close(g->fd);
		free(g);
		return -ENOMEM;
	}
	g->size = size;
	pthread_mutex_lock(&f->lock);
	g->handle = f->next_handle++;
	g->next = f->gems;
	f->gems = g;
	pthread_mutex_unlock(&f->lock);
	memset(a, 0, sizeof *a);
	a->out.handle = g->handle;
	return 0;
}

static struct gem *gem_by_handle(struct drm_file *f, uint32_t handle)
{
	for (struct gem *g = f->gems; g; g = g->next)
		if (g->handle == handle)
			return g;
	return NULL;
}

/* GEM mmap offsets live far above the KFD buffers' */
#define GEM_MMAP_BIT (1ull << 56)

static long gem_mmap(struct conn *c, union drm_amdgpu_gem_mmap *a)
{
	struct drm_file *f = c->priv;
	pthread_mutex_lock(&f->lock);
	struct gem *g = gem_by_handle(f, a->in.handle);
	pthread_mutex_unlock(&f->lock);
	if (!g)
		return -ENOENT;
	a->out.addr_ptr = GEM_MMAP_BIT | (uint64_t)g->handle << 12;
	return 0;
}

static long gem_close(struct conn *c, struct drm_gem_close *a)
{
	struct drm_file *f = c->priv;
	long rc = -EINVAL;
	pthread_mutex_lock(&f->lock);
	for (struct gem **pp = &f->gems; *pp; pp = &(*pp)->next)
		if ((*pp)->handle == a->handle) {
			struct gem *g = *pp;
			*pp = g->next;
			close(g->fd);
			free(g);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static long ctx_op(struct conn *c, union drm_amdgpu_ctx *a)
{
	struct drm_file *f = c->priv;
	switch (a->in.op) {
	case AMDGPU_CTX_OP_ALLOC_CTX:
		pthread_mutex_lock(&f->lock);
		a->out.alloc.ctx_id = f->next_ctx++;
		pthread_mutex_unlock(&f->lock);
		return 0;
	case AMDGPU_CTX_OP_FREE_CTX:
		return 0;
	case AMDGPU_CTX_OP_QUERY_STATE:
	case AMDGPU_CTX_OP_QUERY_STATE2:
		memset(&a->out, 0, sizeof a->out);
		return 0;
	default:
		return -EINVAL;
	}
}

/* ---- dispatch --------------------------------------------------------------------------- */

long drm_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	(void)arg;
	*copy_out = 0;
	if (atomic_load(&c->gpu->fallen_off_bus))
		return -ENODEV;
	if (_IOC_TYPE(request) != DRM_IOCTL_BASE)
		return -ENOTTY;
	unsigned nr = _IOC_NR(request);
	uint8_t args[256];
	memset(args, 0, sizeof args);
	if (size > sizeof args)
		return -EINVAL;
	memcpy(args, data, size);
	long rc;
	if (nr == _IOC_NR(DRM_IOCTL_VERSION))
		rc = drm_version(c, (struct drm_version *)(void *)args);
	else if (nr == _IOC_NR(DRM_IOCTL_GET_CLIENT)) {
		struct drm_client *cl = (void *)args;
		rc = cl->idx == 0 ? 0 : -EINVAL;
		if (rc == 0) {
			cl->auth = 1;
			cl->pid = (unsigned long)c->pid;
			cl->uid = (unsigned long)c->uid;
		}
	} else if (nr == _IOC_NR(DRM_IOCTL_GEM_CLOSE))
		rc = gem_close(c, (struct drm_gem_close *)(void *)args);
	else if (nr == DRM_COMMAND_BASE + DRM_AMDGPU_INFO)
		rc = drm_info(c, (struct drm_amdgpu_info *)(void *)args);
	else if (nr == DRM_COMMAND_BASE + DRM_AMDGPU_GEM_CREATE)
		rc = gem_create(c, (union drm_amdgpu_gem_create *)(void *)args);
	else if (nr == DRM_COMMAND_BASE + DRM_AMDGPU_GEM_MMAP)
		rc = gem_mmap(c, (union drm_amdgpu_gem_mmap *)(void *)args);
	else if (nr == DRM_COMMAND_BASE + DRM_AMDGPU_CTX)
		rc = ctx_op(c, (union drm_amdgpu_ctx *)(void *)args);
	else if (nr == DRM_COMMAND_BASE + DRM_AMDGPU_GEM_VA)
		rc = 0;		/* the render node's own VM: mappings are accepted */
	else
		rc = -EINVAL;
	if (rc == 0) {
		memcpy(data, args, size);
		*copy_out = size;
	}
	return rc;
}

int kfd_bo_for_mmap(pid_t pid, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset);

int drm_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset)
{
	if (atomic_load(&c->gpu->fallen_off_bus))
		return -ENODEV;
	if (offset & GEM_MMAP_BIT) {
		struct drm_file *f = c->priv;
		pthread_mutex_lock(&f->lock);
		struct gem *g = gem_by_handle(f, (uint32_t)((offset & ~GEM_MMAP_BIT) >> 12));
		int rc = g && length <= g->size ? 0 : -EINVAL;
		if (rc == 0) {
			*fd = g->fd;
			*file_offset = 0;
		}
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	/* KFD buffers are mapped through the render node (their mmap_offset) */
	return kfd_bo_for_mmap(c->pid, offset, length, fd, file_offset);
}
