/* The KFD topology in sysfs (/sys/devices/virtual/kfd/kfd/topology): what
 * ROCm's thunk and tinygrad read to find GPUs and their properties.  Node 0
 * is the host CPU, nodes 1..N the GPUs. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim/kmd/kmd.h"

#define KFD_DIR "devices/virtual/kfd/kfd"
#define TOPO KFD_DIR "/topology"

static int cpu_node(struct sim_box *b)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char dir[256];
	snprintf(dir, sizeof dir, "%s/nodes/0", TOPO);
	int rc = 0;
	rc |= sysfs_write(b, dir, "gpu_id", "0\n");
	rc |= sysfs_write(b, dir, "name", "\n");
	rc |= sysfs_write(b, dir, "properties",
			  "cpu_cores_count %ld\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\nio_links_count %d\n"
			  "p2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 0\nmax_waves_per_simd 0\nlds_size_in_kb 0\n"
			  "gds_size_in_kb 0\nnum_gws 0\nwave_front_size 0\narray_count 0\nsimd_arrays_per_engine 0\n"
			  "cu_per_simd_array 0\nsimd_per_cu 0\nmax_slots_scratch_cu 0\ngfx_target_version 0\n"
			  "vendor_id 0\ndevice_id 0\nlocation_id 0\ndomain 0\ndrm_render_minor 0\nhive_id 0\n"
			  "num_sdma_engines 0\nnum_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 0\nnum_cp_queues 0\n"
			  "max_engine_clk_ccompute 3000\n",
			  cpus, b->ngpus);
	char mb[300];
	snprintf(mb, sizeof mb, "%s/mem_banks/0", dir);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	rc |= sysfs_write(b, mb, "properties", "heap_type 0\nsize_in_bytes %llu\nflags 0\nwidth 64\nmem_clk_max 3200\n",
			  (unsigned long long)pages * (unsigned long long)psz);
	for (int i = 0; i < b->ngpus; i++) {
		char io[300];
		snprintf(io, sizeof io, "%s/io_links/%d", dir, i);
		rc |= sysfs_write(b, io, "properties",
				  "type 2\nversion_major 0\nversion_minor 0\nnode_from 0\nnode_to %d\nweight 20\n"
				  "min_latency 0\nmax_latency 0\nmin_bandwidth 312\nmax_bandwidth 32000\n"
				  "recommended_transfer_size 0\nflags 1\n", i + 1);
	}
	return rc;
}

/* ---- a GPU node's caches ------------------------------------------------------ */

/* Navi 31's shader array layout and caches as amdgpu reads them from the IP
 * discovery table's GC info (gc_tcp_l1_size, gc_l1_*_cache_size_per_sqc,
 * gc_gl1c_size_per_instance, gc_gl2c_per_gpu) and the MALL size, with the
 * line sizes KFD supplies for GC 11 (kfd_crat.c,
 * kfd_fill_gpu_cache_info_from_gfx_config).  Sizes in KiB. */
#define NAVI31_SHADER_ENGINES 6
#define NAVI31_SH_PER_SE 2
#define NAVI31_CU_PER_SH 8

/* kfd_topology.h: the cache type bits HSA defines */
#define HSA_CACHE_TYPE_DATA 0x1
#define HSA_CACHE_TYPE_INSTRUCTION 0x2
#define HSA_CACHE_TYPE_HSACU 0x8

struct gpu_cache {
	const char *what;
	int level, size_kib, line, num_cu_shared, type;
};

static const struct gpu_cache navi31_caches[] = {
	{ "TCP L1 per CU", 1, 32, 128, 1, HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU },
	{ "scalar L1 instruction per SQC", 1, 32, 64, 2, HSA_CACHE_TYPE_INSTRUCTION | HSA_CACHE_TYPE_HSACU },
	{ "scalar L1 data per SQC", 1, 16, 64, 2, HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU },
	{ "GL1 per shader array", 1, 256, 128, NAVI31_CU_PER_SH, HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU },
	{ "L2 per GPU", 2, 6144, 128, NAVI31_CU_PER_SH, HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU },
	{ "MALL (Infinity Cache) per GPU", 3, 98304, 64, NAVI31_CU_PER_SH, HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU },
};

/* "sibling_map " then one 0/1 per bit of each byte, bit 0 first, comma
 * separated (kfd_cache_show). */
static size_t sibling_map(char *out, size_t len, const uint8_t *bytes, int nbytes)
{
	size_t at = (size_t)snprintf(out, len, "sibling_map ");
	for (int i = 0; i < nbytes && at < len; i++)
		for (int bit = 0; bit < 8 && at < len; bit++)
			at += (size_t)snprintf(out + at, len - at, "%d%s", (bytes[i] >> bit) & 1,
					       i == nbytes - 1 && bit == 7 ? "\n" : ",");
	return at;
}

static int cache_entry(struct sim_box *b, const char *node_dir, int index, const struct gpu_cache *c,
		       uint32_t processor_id_low, const uint8_t *map, int map_bytes)
{
	char dir[320], props[4096];
	snprintf(dir, sizeof dir, "%s/caches/%d", node_dir, index);
	int at = snprintf(props, sizeof props,
			  "processor_id_low %u\nlevel %d\nsize %d\ncache_line_size %d\ncache_lines_per_tag 0\n"
			  "association 0\nlatency 0\ntype %d\n",
			  processor_id_low, c->level, c->size_kib, c->line, c->type);
	sibling_map(props + at, sizeof props - (size_t)at, map, map_bytes);
	return sysfs_write(b, dir, "properties", "%s", props);
}

/* One entry per group of num_cu_shared CUs for the level-1 caches, walking
 * shader engines, arrays and CUs as KFD does (kfd_fill_cache_non_crat_info,
 * fill_in_l1_pcache); one for each of L2 and L3, whose sibling map holds
 * four bytes per shader array (fill_in_l2_l3_pcache).  Every CU is active.
 * Returns the number of entries written, or -1. */
static int gpu_caches(struct sim_box *b, const char *node_dir, uint32_t simd_id_base, bool write)
{
	int n = 0, rc = 0;
	for (size_t t = 0; t < sizeof navi31_caches / sizeof navi31_caches[0]; t++) {
		const struct gpu_cache *c = &navi31_caches[t];
		uint32_t cu_mask = (1u << c->num_cu_shared) - 1;
		if (c->level == 1) {
			uint32_t processor_id = simd_id_base;
			for (int se = 0; se < NAVI31_SHADER_ENGINES; se++)
				for (int sh = 0; sh < NAVI31_SH_PER_SE; sh++)
					for (int k = 0; k < NAVI31_CU_PER_SH; k += c->num_cu_shared) {
						uint8_t map[4] = { (uint8_t)cu_mask, (uint8_t)(cu_mask >> 8),
								   (uint8_t)(cu_mask >> 16), (uint8_t)(cu_mask >> 24) };
						if (write)
							rc |= cache_entry(b, node_dir, n, c, processor_id, map, 4);
						n++;
						processor_id += (uint32_t)c->num_cu_shared;
					}
		} else {
			uint8_t map[4 * NAVI31_SHADER_ENGINES * NAVI31_SH_PER_SE];
			for (int k = 0; k < (int)sizeof map; k += 4) {
				map[k] = (uint8_t)cu_mask;
				map[k + 1] = (uint8_t)(cu_mask >> 8);
				map[k + 2] = (uint8_t)(cu_mask >> 16);
				map[k + 3] = (uint8_t)(cu_mask >> 24);
			}
			if (write)
				rc |= cache_entry(b, node_dir, n, c, simd_id_base, map, (int)sizeof map);
			n++;
		}
	}
	return rc ? -1 : n;
}

static int gpu_node(struct sim_box *b, struct sim_gpu *g)
{
	char dir[256];
	int node = g->index + 1;
	snprintf(dir, sizeof dir, "%s/nodes/%d", TOPO, node);
	const struct sim_gpu_slot *s = sim_gpu_slot(g->index);
	unsigned location = (unsigned)(s->root_bus + 3) << 8;	/* bus << 8 | devfn */
	/* KFD numbers a GPU's SIMDs from 0x80000000, 0x1000 apart per GPU */
	uint32_t simd_id_base = 0x80000000u + (unsigned)g->index * 0x1000u;
	int rc = 0;
	rc |= sysfs_write(b, dir, "gpu_id", "%u\n", g->gpu_id);
	rc |= sysfs_write(b, dir, "name", "gfx1100\n");
	rc |= sysfs_write(b, dir, "properties",
			  "cpu_cores_count 0\nsimd_count %d\nmem_banks_count 1\ncaches_count %d\nio_links_count 1\n"
			  "p2p_links_count %d\ncpu_core_id_base 0\nsimd_id_base %u\nmax_waves_per_simd 16\n"
			  "lds_size_in_kb 64\ngds_size_in_kb 0\nnum_gws 64\nwave_front_size 32\narray_count 12\n"
			  "simd_arrays_per_engine 2\ncu_per_simd_array 8\nsimd_per_cu 2\nmax_slots_scratch_cu 32\n"
			  "gfx_target_version %d\nvendor_id 4098\ndevice_id %d\nlocation_id %u\ndomain 0\n"
			  "drm_render_minor %d\nhive_id 0\nnum_sdma_engines 2\nnum_sdma_xgmi_engines 0\n"
			  "num_sdma_queues_per_engine 6\nnum_cp_queues 8\nmax_engine_clk_fcompute 2500\n"
			  "local_mem_size 0\nfw_version 2150\ncapability 671588992\ndebug_prop 1495\n"
			  "sdma_fw_version 21\nunique_id %llu\nnum_xcc 1\nmax_engine_clk_ccompute 3000\n",
			  GPU_CUS * 2, gpu_caches(b, dir, simd_id_base, false), b->ngpus - 1, simd_id_base, GPU_GFX_VERSION,
			  PCI_DEVICE_ID, location, g->render_minor, 0x5e11b0c5000000ull + (unsigned long long)g->index);
	if (gpu_caches(b, dir, simd_id_base, true) < 0)
		rc = -1;
	char mb[300];
	snprintf(mb, sizeof mb, "%s/mem_banks/0", dir);
	rc |= sysfs_write(b, mb, "properties",
			  "heap_type 1\nsize_in_bytes %llu\nflags 0\nwidth 384\nmem_clk_max 1250\n",
			  (unsigned long long)GPU_VRAM_BYTES);
	char io[300];
	snprintf(io, sizeof io, "%s/io_links/0", dir);
	rc |= sysfs_write(b, io, "properties",
			  "type 2\nversion_major 0\nversion_minor 0\nnode_from %d\nnode_to 0\nweight 20\nmin_latency 0\n"
			  "max_latency 0\nmin_bandwidth 312\nmax_bandwidth 32000\nrecommended_transfer_size 0\nflags 1\n",
			  node);
	/* peers: every other GPU, over PCIe through the host */
	int k = 0;
	for (int j = 0; j < b->ngpus; j++) {
		if (j == g->index)
			continue;
		char p2p[300];
		snprintf(p2p, sizeof p2p, "%s/p2p_links/%d", dir, k++);
		rc |= sysfs_write(b, p2p, "properties",
				  "type 2\nversion_major 0\nversion_minor 0\nnode_from %d\nnode_to %d\nweight 40\n"
				  "min_latency 0\nmax_latency 0\nmin_bandwidth 312\nmax_bandwidth 32000\n"
				  "recommended_transfer_size 0\nflags 1\n",
				  node, j + 1);
	}
	return rc;
}

int kfd_topology_build(struct sim_box *b)
{
	int rc = 0;
	rc |= sysfs_write(b, KFD_DIR, "dev", "%d:0\n", KFD_MAJOR);
	rc |= sysfs_write(b, KFD_DIR, "uevent", "MAJOR=%d\nMINOR=0\nDEVNAME=kfd\n", KFD_MAJOR);
	rc |= sysfs_write(b, TOPO, "generation_id", "1\n");
	rc |= sysfs_write(b, TOPO, "system_properties", "platform_oem 0\nplatform_id 0\nplatform_rev 0\n");
	rc |= cpu_node(b);
	for (int i = 0; i < b->ngpus; i++)
		rc |= gpu_node(b, &b->gpu[i]);
	/* /sys/class/kfd/kfd and /sys/dev/char/MAJ:0 point at the device */
	char mm[32];
	snprintf(mm, sizeof mm, "%d:0", KFD_MAJOR);
	rc |= sysfs_link(b, "class/kfd", "kfd", KFD_DIR);
	rc |= sysfs_link(b, "dev/char", mm, KFD_DIR);
	return rc ? -1 : 0;
}
