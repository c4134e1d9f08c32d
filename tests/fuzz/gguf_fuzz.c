/* libFuzzer target for libtbinfer's model headers.  An input that begins
 * with "GGUF" is a GGUF file's header and metadata, parsed by
 * tbi_gguf_parse (the data section need not be there: the file's size is
 * taken as the input's, plus the u32 at offset 4 of nothing).  Any other
 * input is a Hugging Face directory in one buffer: config.json's bytes, a
 * NUL, then model.safetensors' bytes; they are written to a scratch
 * directory that also holds the tokenizer.json and tokenizer_config.json of
 * $TBI_FUZZ_TOKENIZER (a directory), and opened with tbi_model_open.
 * Refusal is fine; a crash, a leak, a hang or undefined behaviour is a bug;
 * so is an accepted tensor that lies outside its file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/internal.h"

static char dir[64];

static int put(const char *name, const void *p, size_t len)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = len ? fwrite(p, 1, len, f) : 0;
	return fclose(f) || w != len ? -1 : 0;
}

static void copy_in(const char *from, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", from, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	put(name, buf, n);
}

static void cleanup(void)
{
	static const char *const names[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
	char path[128];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "/tmp/tbi-fuzz.%d", (int)getpid());
	if (mkdir(dir, 0700) == 0)
		atexit(cleanup);
	if (getenv("TBI_FUZZ_TOKENIZER")) {
		copy_in(getenv("TBI_FUZZ_TOKENIZER"), "tokenizer.json");
		copy_in(getenv("TBI_FUZZ_TOKENIZER"), "tokenizer_config.json");
	}
	return 0;
}

/* Every tensor of an accepted model lies inside its file. */
static void check_extents(const struct tbi_model *m)
{
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		const struct tbi_tensor *t = &m->tensors[i];
		if (t->file >= m->n_files || t->offset > m->file_sizes[t->file] ||
		    t->bytes > m->file_sizes[t->file] - t->offset)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tbi_model *m = NULL;
	struct tbi_err err;
	if (size >= 4 && !memcmp(data, "GGUF", 4)) {
		if (tbi_gguf_parse(data, size, size, "fuzz.gguf", &m, &err) == 0)
			check_extents(m);
		tbi_model_free(m);
		return 0;
	}
	const uint8_t *nul = memchr(data, 0, size);
	size_t cfg = nul ? (size_t)(nul - data) : size;
	if (put("config.json", data, cfg) ||
	    put("model.safetensors", nul ? nul + 1 : data + size, nul ? size - cfg - 1 : 0))
		return 0;
	if (tbi_model_open(dir, &m, &err) == 0)
		check_extents(m);
	tbi_model_free(m);
	return 0;
}
