/* Loading gfx1100 code objects: ELF through libelf, the AMDGPU metadata
 * note through msgpack-c.  Every field read from the file is checked
 * against the file's bounds before use: a malformed code object is refused
 * with a message, never a crash (see tests/driver fuzz target). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/internal.h"

/* AMDGPU ELF facts (LLVM AMDGPUUsage, "ELF Code Object"). */
#define ELFOSABI_AMDGPU_HSA 64
#define EF_AMDGPU_MACH 0x0ff
#define EF_AMDGPU_MACH_AMDGCN_GFX1100 0x041
#define NT_AMDGPU_METADATA 32
#define R_AMDGPU_RELATIVE64 13
#define KD_SIZE 64
#define MAX_IMAGE (256u << 20)
#define MAX_KERNELS 4096
#define MAX_ARGS 1024

/* Errors with a message, for every part of the driver. */
int tb_fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	if (err && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void tb_codeobj_free(struct tb_codeobj *co)
{
	if (!co)
		return;
	for (uint32_t i = 0; i < co->nkernels; i++)
		free(co->kernels[i].args);
	free(co->kernels);
	free(co->relocs);
	free(co->image);
	free(co);
}

const struct tb_kernel *tb_codeobj_kernel(const struct tb_codeobj *co, const char *name)
{
	for (uint32_t i = 0; co && name && i < co->nkernels; i++)
		if (!strcmp(co->kernels[i].name, name))
			return &co->kernels[i];
	return NULL;
}

/* ---- the ELF layer ------------------------------------------------------------ */

static int check_header(Elf *e, struct tb_codeobj *co, char *err, size_t len)
{
	GElf_Ehdr h;
	if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &h))
		return tb_fail(err, len, -ENOEXEC, "not an ELF file");
	if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_ident[EI_DATA] != ELFDATA2LSB)
		return tb_fail(err, len, -ENOEXEC, "not a 64-bit little-endian ELF file");
	if (h.e_machine != EM_AMDGPU)
		return tb_fail(err, len, -ENOEXEC, "not an AMD GPU code object (e_machine %u, want EM_AMDGPU 224)",
			    h.e_machine);
	if (h.e_ident[EI_OSABI] != ELFOSABI_AMDGPU_HSA)
		return tb_fail(err, len, -ENOEXEC, "not an AMDHSA code object (OS/ABI %u)", h.e_ident[EI_OSABI]);
	unsigned abi = h.e_ident[EI_ABIVERSION];
	if (abi < 2 || abi > 4)
		return tb_fail(err, len, -ENOEXEC, "unsupported code object version (ABI version %u; v4-v6 supported)", abi);
	co->abi_version = abi + 2;
	if ((h.e_flags & EF_AMDGPU_MACH) != EF_AMDGPU_MACH_AMDGCN_GFX1100)
		return tb_fail(err, len, -ENOEXEC, "code object is for another GPU (EF_AMDGPU_MACH 0x%03x, want gfx1100 0x041)",
			    (unsigned)(h.e_flags & EF_AMDGPU_MACH));
	if (h.e_type != ET_DYN)
		return tb_fail(err, len, -ENOEXEC, "not a linked code object (e_type %u, want ET_DYN): link it with ld.lld",
			    h.e_type);
	return 0;
}

/* Lay the PT_LOAD segments out at their virtual addresses. */
static int load_segments(Elf *e, const uint8_t *file, size_t fsize, struct tb_codeobj *co, char *err, size_t len)
{
	size_t n;
	if (elf_getphdrnum(e, &n) != 0)
		return tb_fail(err, len, -ENOEXEC, "unreadable program headers");
	uint64_t end = 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph))
			return tb_fail(err, len, -ENOEXEC, "unreadable program header %zu", i);
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > fsize || ph.p_filesz > fsize - ph.p_offset ||
		    ph.p_vaddr > MAX_IMAGE || ph.p_memsz > MAX_IMAGE - ph.p_vaddr)
			return tb_fail(err, len, -ENOEXEC, "segment %zu lies outside the file or is too large", i);
		if (ph.p_vaddr + ph.p_memsz > end)
			end = ph.p_vaddr + ph.p_memsz;
	}
	if (end == 0)
		return tb_fail(err, len, -ENOEXEC, "no loadable segments");
	co->image_size = (end + 0xfff) & ~0xfffull;
	co->image = calloc(1, co->image_size);
	if (!co->image)
		return tb_fail(err, len, -ENOMEM, "out of memory for a %llu-byte image", (unsigned long long)co->image_size);
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			memcpy(co->image + ph.p_vaddr, file + ph.p_offset, ph.p_filesz);
	}
	return 0;
}

static bool in_image(const struct tb_codeobj *co, uint64_t off, uint64_t size)
{
	return off <= co->image_size && size <= co->image_size - off;
}

/* .text bounds, symbols (kernel descriptors) and relocations from the sections. */
struct sym_kd {
	char name[128];
	uint64_t value;
};

static int scan_sections(Elf *e, struct tb_codeobj *co, struct sym_kd **kds, uint32_t *nkds, char *err, size_t len)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return tb_fail(err, len, -ENOEXEC, "no section name table");
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			return tb_fail(err, len, -ENOEXEC, "unreadable section header");
		const char *name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".text") && sh.sh_type == SHT_PROGBITS) {
			if (!in_image(co, sh.sh_addr, sh.sh_size))
				return tb_fail(err, len, -ENOEXEC, ".text lies outside the loaded image");
			co->text_offset = sh.sh_addr;
			co->text_size = sh.sh_size;
		}
		if (sh.sh_type == SHT_DYNSYM || (sh.sh_type == SHT_SYMTAB && *nkds == 0)) {
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
			if (!d || count > 1000000)
				continue;
			for (size_t i = 0; i < count; i++) {
				GElf_Sym s;
				if (!gelf_getsym(d, (int)i, &s))
					break;
				const char *sn = elf_strptr(e, sh.sh_link, s.st_name);
				size_t nl = sn ? strlen(sn) : 0;
				if (nl < 4 || nl >= sizeof((*kds)->name) || strcmp(sn + nl - 3, ".kd") != 0 ||
				    GELF_ST_TYPE(s.st_info) != STT_OBJECT)
					continue;
				bool dup = false;
				for (uint32_t k = 0; k < *nkds; k++)
					dup |= !strcmp((*kds)[k].name, sn);
				if (dup)
					continue;
				if (*nkds >= MAX_KERNELS)
					return tb_fail(err, len, -ENOEXEC, "too many kernels");
				struct sym_kd *nk = realloc(*kds, (*nkds + 1) * sizeof **kds);
				if (!nk)
					return tb_fail(err, len, -ENOMEM, "out of memory");
				*kds = nk;
				snprintf(nk[*nkds].name, sizeof nk[*nkds].name, "%.*s", (int)(nl - 3), sn);
				nk[*nkds].value = s.st_value;
				(*nkds)++;
			}
		}
		if (sh.sh_type == SHT_RELA) {
			Elf_Data *d = elf_getdata(scn, NULL);
			size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
			if (!d || count > 1000000)
				continue;
			for (size_t i = 0; i < count; i++) {
				GElf_Rela r;
				if (!gelf_getrela(d, (int)i, &r))
					break;
				unsigned type = (unsigned)GELF_R_TYPE(r.r_info);
				if (type == 0)
					continue;
				if (type != R_AMDGPU_RELATIVE64)
					return tb_fail(err, len, -ENOEXEC, "unsupported relocation type %u", type);
				if (!in_image(co, r.r_offset, 8))
					return tb_fail(err, len, -ENOEXEC, "relocation outside the image");
				uint64_t(*nr)[2] = realloc(co->relocs, (co->nrelocs + 1) * sizeof *co->relocs);
				if (!nr)
					return tb_fail(err, len, -ENOMEM, "out of memory");
				co->relocs = nr;
				nr[co->nrelocs][0] = r.r_offset;
				nr[co->nrelocs][1] = (uint64_t)r.r_addend;
				co->nrelocs++;
			}
		}
	}
	if (co->text_size == 0)
		return tb_fail(err, len, -ENOEXEC, "no .text section");
	return 0;
}

/* ---- the metadata note ------------------------------------------------------------ */

static bool key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < m->via.map.size; i++)
		if (key_is(&m->via.map.ptr[i].key, key))
			return &m->via.map.ptr[i].val;
	return NULL;
}

static bool get_u32(const msgpack_object *m, const char *key, uint32_t *out)
{
	const msgpack_object *v = map_get(m, key);
	if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > UINT32_MAX)
		return false;
	*out = (uint32_t)v->via.u64;
	return true;
}

static void get_str(const msgpack_object *m, const char *key, char *out, size_t len)
{
	const msgpack_object *v = map_get(m, key);
	out[0] = '\0';
	if (v && v->type == MSGPACK_OBJECT_STR) {
		size_t n = v->via.str.size < len - 1 ? v->via.str.size : len - 1;
		memcpy(out, v->via.str.ptr, n);
		out[n] = '\0';
	}
}

static const struct {
	const char *name;
	enum tb_hidden_arg h;
} hidden_kinds[] = {
	{ "hidden_block_count_x", TB_HIDDEN_BLOCK_COUNT_X }, { "hidden_block_count_y", TB_HIDDEN_BLOCK_COUNT_Y },
	{ "hidden_block_count_z", TB_HIDDEN_BLOCK_COUNT_Z }, { "hidden_group_size_x", TB_HIDDEN_GROUP_SIZE_X },
	{ "hidden_group_size_y", TB_HIDDEN_GROUP_SIZE_Y }, { "hidden_group_size_z", TB_HIDDEN_GROUP_SIZE_Z },
	{ "hidden_remainder_x", TB_HIDDEN_REMAINDER_X }, { "hidden_remainder_y", TB_HIDDEN_REMAINDER_Y },
	{ "hidden_remainder_z", TB_HIDDEN_REMAINDER_Z }, { "hidden_global_offset_x", TB_HIDDEN_GLOBAL_OFFSET_X },
	{ "hidden_global_offset_y", TB_HIDDEN_GLOBAL_OFFSET_Y }, { "hidden_global_offset_z", TB_HIDDEN_GLOBAL_OFFSET_Z },
	{ "hidden_grid_dims", TB_HIDDEN_GRID_DIMS },
};

static int parse_arg(const msgpack_object *a, const struct tb_kernel *k, struct tb_kernel_arg *out, char *err,
		     size_t len)
{
	char kind[64];
	memset(out, 0, sizeof *out);
	get_str(a, ".name", out->name, sizeof out->name);
	get_str(a, ".type_name", out->type_name, sizeof out->type_name);
	get_str(a, ".value_kind", kind, sizeof kind);
	if (!get_u32(a, ".offset", &out->offset) || !get_u32(a, ".size", &out->size))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: an argument has no offset or size", k->name);
	if (out->offset > k->kernarg_size || out->size > k->kernarg_size - out->offset)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: argument '%s' lies outside the %u-byte kernarg segment",
			    k->name, out->name, k->kernarg_size);
	const msgpack_object *c = map_get(a, ".is_const");
	out->is_const = c && c->type == MSGPACK_OBJECT_BOOLEAN && c->via.boolean;
	if (!strcmp(kind, "by_value")) {
		out->kind = TB_ARG_BY_VALUE;
	} else if (!strcmp(kind, "global_buffer")) {
		out->kind = TB_ARG_GLOBAL_BUFFER;
	} else if (!strcmp(kind, "dynamic_shared_pointer")) {
		out->kind = TB_ARG_DYNAMIC_SHARED_POINTER;
	} else if (!strncmp(kind, "hidden_", 7)) {
		out->kind = TB_ARG_HIDDEN;
		out->hidden = TB_HIDDEN_OTHER;
		for (size_t i = 0; i < sizeof hidden_kinds / sizeof hidden_kinds[0]; i++)
			if (!strcmp(kind, hidden_kinds[i].name))
				out->hidden = hidden_kinds[i].h;
	} else {
		out->kind = TB_ARG_OTHER;
	}
	return 0;
}

/* The kernel descriptor in the image: 64 bytes (AMDGPUUsage "Kernel Descriptor"). */
static int read_descriptor(const struct tb_codeobj *co, struct tb_kernel *k, uint64_t kd, char *err, size_t len)
{
	if (!in_image(co, kd, KD_SIZE))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: its descriptor lies outside the image", k->name);
	const uint8_t *p = co->image + kd;
	int64_t entry;
	memcpy(&entry, p + 16, 8);
	k->kd_offset = kd;
	/* the magnitude in unsigned arithmetic: -INT64_MIN does not exist */
	uint64_t magnitude = entry < 0 ? 0 - (uint64_t)entry : (uint64_t)entry;
	if ((entry < 0 && magnitude > kd) || (entry >= 0 && magnitude > co->image_size - kd))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: its entry point lies outside the image", k->name);
	k->entry_offset = (uint64_t)((int64_t)kd + entry);
	if (k->entry_offset < co->text_offset || k->entry_offset >= co->text_offset + co->text_size ||
	    (k->entry_offset & 0xff))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: its entry point 0x%llx is not 256-byte aligned code in .text",
			    k->name, (unsigned long long)k->entry_offset);
	uint32_t group, priv, kernarg;
	memcpy(&group, p + 0, 4);
	memcpy(&priv, p + 4, 4);
	memcpy(&kernarg, p + 8, 4);
	memcpy(&k->rsrc3, p + 44, 4);
	memcpy(&k->rsrc1, p + 48, 4);
	memcpy(&k->rsrc2, p + 52, 4);
	memcpy(&k->code_properties, p + 56, 2);
	if (group != k->group_segment_size || priv != k->private_segment_size)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: descriptor and metadata disagree on segment sizes", k->name);
	if (!(k->code_properties & TB_KD_WAVEFRONT_SIZE32))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: compiled for wave64; gfx1100 kernels here run wave32", k->name);
	return 0;
}

static int parse_kernel(const msgpack_object *m, struct tb_codeobj *co, const struct sym_kd *kds, uint32_t nkds,
			struct tb_kernel *k, char *err, size_t len)
{
	char symbol[160];
	memset(k, 0, sizeof *k);
	get_str(m, ".name", k->name, sizeof k->name);
	get_str(m, ".symbol", symbol, sizeof symbol);
	if (!k->name[0])
		return tb_fail(err, len, -ENOEXEC, "a kernel in the metadata has no name");
	if (!get_u32(m, ".kernarg_segment_size", &k->kernarg_size) ||
	    !get_u32(m, ".kernarg_segment_align", &k->kernarg_align) ||
	    !get_u32(m, ".group_segment_fixed_size", &k->group_segment_size) ||
	    !get_u32(m, ".private_segment_fixed_size", &k->private_segment_size))
		return tb_fail(err, len, -ENOEXEC, "kernel %s: metadata lacks segment sizes", k->name);
	get_u32(m, ".wavefront_size", &k->wavefront_size);
	get_u32(m, ".max_flat_workgroup_size", &k->max_flat_workgroup_size);
	get_u32(m, ".sgpr_count", &k->sgpr_count);
	get_u32(m, ".vgpr_count", &k->vgpr_count);
	if (k->kernarg_size > 64 * 1024 || k->group_segment_size > 64 * 1024 || k->kernarg_align > 4096)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: implausible segment sizes", k->name);
	if (k->private_segment_size > TB_MAX_PRIVATE_SEGMENT)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: %u bytes of scratch per work-item; the hardware takes %u",
			       k->name, k->private_segment_size, TB_MAX_PRIVATE_SEGMENT);
	if (!k->max_flat_workgroup_size)
		k->max_flat_workgroup_size = TB_MAX_WORKGROUP_SIZE;
	if (k->max_flat_workgroup_size > TB_MAX_WORKGROUP_SIZE)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: max_flat_workgroup_size %u is over %u", k->name,
			       k->max_flat_workgroup_size, TB_MAX_WORKGROUP_SIZE);

	const struct sym_kd *kd = NULL;
	size_t sl = strlen(symbol);
	for (uint32_t i = 0; i < nkds; i++)
		if ((sl > 3 && !strncmp(kds[i].name, symbol, sl - 3) && kds[i].name[sl - 3] == '\0') ||
		    (!symbol[0] && !strcmp(kds[i].name, k->name)))
			kd = &kds[i];
	if (!kd)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: no kernel descriptor symbol %s", k->name,
			    symbol[0] ? symbol : "(none)");
	int rc = read_descriptor(co, k, kd->value, err, len);
	if (rc < 0)
		return rc;

	const msgpack_object *args = map_get(m, ".args");
	if (!args)
		return 0;
	if (args->type != MSGPACK_OBJECT_ARRAY || args->via.array.size > MAX_ARGS)
		return tb_fail(err, len, -ENOEXEC, "kernel %s: malformed argument list", k->name);
	k->args = calloc(args->via.array.size ? args->via.array.size : 1, sizeof *k->args);
	if (!k->args)
		return tb_fail(err, len, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < args->via.array.size; i++) {
		rc = parse_arg(&args->via.array.ptr[i], k, &k->args[i], err, len);
		if (rc < 0)
			return rc;
		k->nargs++;
		if (k->args[i].kind != TB_ARG_HIDDEN)
			k->nexplicit = k->nargs;
	}
	return 0;
}

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Walk the first MessagePack object of [p, p + size) without building it:
 * msgpack-c allocates an array's or map's elements as the count claims,
 * before it reads them, so every count is checked against the bytes left
 * (each element takes at least one) and every length against the input. */
static bool msgpack_counts_fit(const uint8_t *p, size_t size)
{
	size_t pos = 0;
	uint64_t pending = 1;	/* objects still to read */
	while (pending) {
		if (pos >= size)
			return false;
		uint8_t t = p[pos++];
		uint64_t skip = 0, items = 0, len_bytes = 0;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
			skip = 0;
		else if (t <= 0x8f)
			items = 2 * (uint64_t)(t & 0x0f);
		else if (t <= 0x9f)
			items = t & 0x0f;
		else if (t <= 0xbf)
			skip = t & 0x1f;
		else if (t >= 0xc4 && t <= 0xc6)	/* bin 8/16/32 */
			len_bytes = 1u << (t - 0xc4);
		else if (t >= 0xc7 && t <= 0xc9)	/* ext 8/16/32: length, type */
			len_bytes = 1u << (t - 0xc7);
		else if (t == 0xca || t == 0xcb)
			skip = t == 0xca ? 4 : 8;
		else if (t >= 0xcc && t <= 0xd3)	/* uint and int 8..64 */
			skip = 1u << ((t - 0xcc) & 3);
		else if (t >= 0xd4 && t <= 0xd8)	/* fixext: type, 1..16 bytes */
			skip = 1 + (1u << (t - 0xd4));
		else if (t >= 0xd9 && t <= 0xdb)	/* str 8/16/32 */
			len_bytes = 1u << (t - 0xd9);
		else if (t == 0xdc || t == 0xdd || t == 0xde || t == 0xdf) {
			unsigned n = t == 0xdc || t == 0xde ? 2 : 4;
			if (size - pos < n)
				return false;
			items = be(p + pos, n) * (t >= 0xde ? 2 : 1);
			pos += n;
		} else
			return false;	/* 0xc1 is never used */
		if (len_bytes) {
			if (size - pos < len_bytes)
				return false;
			skip = be(p + pos, (unsigned)len_bytes) + (t >= 0xc7 && t <= 0xc9);
			pos += len_bytes;
		}
		if (skip > size - pos)
			return false;
		pos += skip;
		pending = pending - 1 + items;
		if (pending > size - pos)
			return false;
	}
	return true;
}

static int parse_metadata(const uint8_t *desc, size_t size, struct tb_codeobj *co, const struct sym_kd *kds,
			  uint32_t nkds, char *err, size_t len)
{
	msgpack_unpacked u;
	size_t off = 0;
	if (!msgpack_counts_fit(desc, size))
		return tb_fail(err, len, -ENOEXEC, "the AMDGPU metadata note is not valid MessagePack "
			       "(a count or length runs past its end)");
	msgpack_unpacked_init(&u);
	int rc = 0;
	if (msgpack_unpack_next(&u, (const char *)desc, size, &off) != MSGPACK_UNPACK_SUCCESS) {
		rc = tb_fail(err, len, -ENOEXEC, "the AMDGPU metadata note is not valid MessagePack");
		goto out;
	}
	const msgpack_object *root = &u.data;
	get_str(root, "amdhsa.target", co->target, sizeof co->target);
	if (co->target[0] && !strstr(co->target, "gfx1100")) {
		rc = tb_fail(err, len, -ENOEXEC, "code object targets %s, not gfx1100", co->target);
		goto out;
	}
	const msgpack_object *ks = map_get(root, "amdhsa.kernels");
	if (!ks || ks->type != MSGPACK_OBJECT_ARRAY || ks->via.array.size == 0 || ks->via.array.size > MAX_KERNELS) {
		rc = tb_fail(err, len, -ENOEXEC, "the metadata lists no kernels");
		goto out;
	}
	co->kernels = calloc(ks->via.array.size, sizeof *co->kernels);
	if (!co->kernels) {
		rc = tb_fail(err, len, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < ks->via.array.size; i++) {
		rc = parse_kernel(&ks->via.array.ptr[i], co, kds, nkds, &co->kernels[i], err, len);
		if (rc < 0) {
			free(co->kernels[i].args);
			break;
		}
		co->nkernels++;
	}
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* Walk the notes (PT_NOTE segments) for NT_AMDGPU_METADATA. */
static int find_metadata(Elf *e, const uint8_t *file, size_t fsize, const uint8_t **desc, size_t *dsize)
{
	size_t n;
	if (elf_getphdrnum(e, &n) != 0)
		return -ENOEXEC;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > fsize || ph.p_filesz > fsize - ph.p_offset)
			return -ENOEXEC;
		const uint8_t *p = file + ph.p_offset, *end = p + ph.p_filesz;
		while (end - p >= 12) {
			uint32_t namesz, descsz, type;
			memcpy(&namesz, p, 4);
			memcpy(&descsz, p + 4, 4);
			memcpy(&type, p + 8, 4);
			p += 12;
			size_t nal = ((size_t)namesz + 3) & ~(size_t)3, dal = ((size_t)descsz + 3) & ~(size_t)3;
			if (nal > (size_t)(end - p) || dal > (size_t)(end - p) - nal)
				return -ENOEXEC;
			bool amd = namesz == 7 && !memcmp(p, "AMDGPU", 7);
			if (amd && type == NT_AMDGPU_METADATA) {
				*desc = p + nal;
				*dsize = descsz;
				return 0;
			}
			p += nal + dal;
		}
	}
	return -ENOENT;
}

int tb_codeobj_parse(const void *data, size_t size, struct tb_codeobj **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!data || size < 64)
		return tb_fail(err, errlen, -ENOEXEC, "not an ELF file (too short)");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return tb_fail(err, errlen, -ENOEXEC, "libelf is unusable");
	/* libelf may keep pointers into the buffer: give it our own copy */
	uint8_t *copy = malloc(size);
	if (!copy)
		return tb_fail(err, errlen, -ENOMEM, "out of memory");
	memcpy(copy, data, size);
	struct tb_codeobj *co = calloc(1, sizeof *co);
	struct sym_kd *kds = NULL;
	uint32_t nkds = 0;
	Elf *e = co ? elf_memory((char *)copy, size) : NULL;
	int rc;
	if (!co)
		rc = tb_fail(err, errlen, -ENOMEM, "out of memory");
	else if (!e)
		rc = tb_fail(err, errlen, -ENOEXEC, "not an ELF file: %s", elf_errmsg(-1));
	else if ((rc = check_header(e, co, err, errlen)) == 0 && (rc = load_segments(e, copy, size, co, err, errlen)) == 0 &&
		 (rc = scan_sections(e, co, &kds, &nkds, err, errlen)) == 0) {
		const uint8_t *desc;
		size_t dsize;
		if (find_metadata(e, copy, size, &desc, &dsize) != 0)
			rc = tb_fail(err, errlen, -ENOEXEC, "no AMDGPU metadata note");
		else
			rc = parse_metadata(desc, dsize, co, kds, nkds, err, errlen);
	}
	if (e)
		elf_end(e);
	free(kds);
	free(copy);
	if (rc < 0) {
		tb_codeobj_free(co);
		return rc;
	}
	*out = co;
	return 0;
}

int tb_codeobj_load_file(const char *path, struct tb_codeobj **out, char *err, size_t errlen)
{
	*out = NULL;
	/* without blocking: a FIFO's open would wait for a writer forever */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return tb_fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_IMAGE) {
		close(fd);
		return tb_fail(err, errlen, -ENOEXEC, "%s is not a regular file of plausible size", path);
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return tb_fail(err, errlen, -ENOMEM, "out of memory");
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	int rc = got == size ? tb_codeobj_parse(buf, size, out, err, errlen)
			     : tb_fail(err, errlen, -EIO, "cannot read %s", path);
	free(buf);
	if (rc < 0 && err && errlen && strncmp(err, path, strlen(path)) != 0) {
		char tmp[512];
		snprintf(tmp, sizeof tmp, "%s: %s", path, err);
		snprintf(err, errlen, "%s", tmp);
	}
	return rc;
}

void tb_codeobj_place(const struct tb_codeobj *co, uint8_t *dst, uint64_t base)
{
	memcpy(dst, co->image, co->image_size);
	for (uint32_t i = 0; i < co->nrelocs; i++) {
		uint64_t v = base + co->relocs[i][1];
		memcpy(dst + co->relocs[i][0], &v, 8);
	}
}

unsigned tb_kernel_user_sgprs(const struct tb_kernel *k, uint64_t private_segment_buffer[2], uint64_t dispatch_ptr,
			      uint64_t queue_ptr, uint64_t kernarg_ptr, uint64_t dispatch_id, uint32_t user_data[16])
{
	unsigned n = 0;
	uint16_t p = k->code_properties;
	memset(user_data, 0, 16 * sizeof *user_data);
	/* the order is fixed by the hardware ABI (AMDGPUUsage, "Initial Kernel Execution State") */
	if (p & TB_KD_USER_SGPR_PRIVATE_SEGMENT_BUFFER) {
		memcpy(&user_data[n], private_segment_buffer, 16);
		n += 4;
	}
	uint64_t pairs[3] = { dispatch_ptr, queue_ptr, kernarg_ptr };
	static const uint16_t bits[3] = { TB_KD_USER_SGPR_DISPATCH_PTR, TB_KD_USER_SGPR_QUEUE_PTR,
					  TB_KD_USER_SGPR_KERNARG_SEGMENT_PTR };
	for (int i = 0; i < 3; i++)
		if (p & bits[i]) {
			user_data[n++] = (uint32_t)pairs[i];
			user_data[n++] = (uint32_t)(pairs[i] >> 32);
		}
	if (p & TB_KD_USER_SGPR_DISPATCH_ID) {
		user_data[n++] = (uint32_t)dispatch_id;
		user_data[n++] = (uint32_t)(dispatch_id >> 32);
	}
	/* flat scratch init and private segment size are not used on gfx11
	 * (architected flat scratch); their SGPRs stay zero if asked for */
	if (p & TB_KD_USER_SGPR_FLAT_SCRATCH_INIT)
		n += 2;
	if (p & TB_KD_USER_SGPR_PRIVATE_SEGMENT_SIZE)
		n += 1;
	return n > 16 ? 16 : n;
}
