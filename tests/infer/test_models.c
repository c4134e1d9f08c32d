/* libtbinfer's models.  Without arguments: TAP checks that need no model
 * files made by mkmodel.py (type sizes, parsing from memory, paths that are
 * no model: a FIFO, /dev/zero, an empty directory).  `test_models show PATH`
 * opens PATH and prints what was read, one "key value" a line (or "error:
 * MESSAGE" and exit 1), for tests/infer/models.sh to assert on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/internal.h"
#include "tests/tap.h"

static int show(const char *path)
{
	struct tbi_model *m;
	struct tbi_err err = {0};
	if (tbi_model_open(path, &m, &err)) {
		printf("error: %s\n", err.msg);
		return 1;
	}
	const struct tbi_hparams *h = &m->hp;
	const struct tbi_vocab *v = &m->vocab;
	printf("format %s\narch %s\nname %s\nfiles %u\n", m->format == TBI_FORMAT_GGUF ? "gguf" : "hf", m->arch,
	       m->name, m->n_files);
	printf("hparams vocab=%u dim=%u layers=%u heads=%u kv_heads=%u head_dim=%u ffn=%u ctx=%u\n", h->n_vocab,
	       h->dim, h->n_layers, h->n_heads, h->n_kv_heads, h->head_dim, h->ffn_dim, h->ctx_len);
	printf("eps %g\ntheta %g\nrope %s\ntied %d\n", (double)h->rms_eps, (double)h->rope_theta,
	       h->rope_layout == TBI_ROPE_ADJACENT ? "adjacent" : "halves", h->tied_output);
	if (h->rope_llama3)
		printf("llama3 factor=%g low=%g high=%g orig=%u\n", (double)h->rope_factor,
		       (double)h->rope_low_freq_factor, (double)h->rope_high_freq_factor, h->rope_orig_ctx);
	printf("vocab %s %s tokens=%u merges=%u scores=%d bos=%d eos=%d eot=%d unk=%d pad=%d add_bos=%d add_eos=%d\n",
	       v->kind == TBI_VOCAB_SPM ? "spm" : "bpe", v->pretok == TBI_PRETOK_GPT2 ? "gpt2" : "llama3",
	       v->n_tokens, v->n_merges, v->scores != NULL, v->bos, v->eos, v->eot, v->unk, v->pad, v->add_bos,
	       v->add_eos);
	uint32_t counts[7] = {0};
	for (uint32_t i = 0; i < v->n_tokens; i++)
		counts[v->types[i]]++;
	printf("token_types normal=%u control=%u byte=%u unknown=%u user=%u\n", counts[TBI_TOKEN_NORMAL],
	       counts[TBI_TOKEN_CONTROL], counts[TBI_TOKEN_BYTE], counts[TBI_TOKEN_UNKNOWN],
	       counts[TBI_TOKEN_USER_DEFINED]);
	if (v->bos >= 0)
		printf("bos_text %s\n", v->tokens[v->bos]);
	printf("template %s\n", v->chat_template ? (strstr(v->chat_template, "<|start_header_id|>") ? "llama3" : "other")
						 : "none");
	printf("tensors %u\n", m->n_tensors);
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		const struct tbi_tensor *t = &m->tensors[i];
		int in_file = t->offset <= m->file_sizes[t->file] && t->bytes <= m->file_sizes[t->file] - t->offset;
		printf("tensor %s %s [%llu,%llu,%llu,%llu] file=%u bytes=%llu%s\n", t->name, tbi_type_name(t->type),
		       (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
		       (unsigned long long)t->ne[3], t->file, (unsigned long long)t->bytes,
		       in_file ? "" : " OUTSIDE-FILE");
	}
	tbi_model_free(m);
	return 0;
}

/* tbi_model_open's status and message for path */
static int open_msg(const char *path, char *msg, size_t len)
{
	struct tbi_model *m = NULL;
	struct tbi_err err = {0};
	int rc = tbi_model_open(path, &m, &err);
	snprintf(msg, len, "%s", err.msg);
	tbi_model_free(m);
	return rc;
}

static void type_sizes(void)
{
	check(tbi_type_bytes(TBI_F32, 10) == 40 && tbi_type_bytes(TBI_F16, 10) == 20 &&
		      tbi_type_bytes(TBI_BF16, 3) == 6,
	      "f32, f16 and bf16 sizes");
	check(tbi_type_bytes(TBI_Q8_0, 64) == 68 && tbi_type_bytes(TBI_Q8_0, 33) == 0,
	      "q8_0: 34 bytes per 32 weights, 0 for a partial block");
	check(tbi_type_bytes(TBI_F32, UINT64_MAX / 2) == 0, "an overflowing size is 0");
	check(!strcmp(tbi_type_name(TBI_Q8_0), "q8_0") && !strcmp(tbi_type_name(TBI_BF16), "bf16"), "type names");
}

static void parse_memory(void)
{
	struct tbi_model *m = NULL;
	struct tbi_err err = {0};
	static const unsigned char hdr[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1};
	int rc = tbi_gguf_parse(hdr, 8, 8, "mem.gguf", &m, &err);
	check(rc < 0 && !m && strstr(err.msg, "mem.gguf") && strstr(err.msg, "truncated"),
	      "an 8-byte GGUF is truncated: %s", err.msg);
	rc = tbi_gguf_parse(hdr, sizeof hdr, sizeof hdr, "mem.gguf", &m, &err);
	check(rc < 0 && strstr(err.msg, "1 tensors cannot fit"), "one tensor claimed by 24 bytes: %s", err.msg);
	rc = tbi_gguf_parse(hdr, 16, 1 << 20, "mem.gguf", &m, &err);
	check(rc < 0 && strstr(err.msg, "past the 16 bytes read"), "a prefix shorter than the header: %s", err.msg);
	rc = tbi_gguf_parse("GGML", 4, 4, "mem.gguf", &m, &err);
	check(rc < 0 && strstr(err.msg, "no GGUF magic"), "another magic: %s", err.msg);
}

/* Paths that are no model are refused at once: a FIFO with no writer (a
 * blocking open would wait forever), a character device, directories. */
static void not_models(void)
{
	char dir[] = "/tmp/tbi-models.XXXXXX", path[64], msg[512];
	if (!mkdtemp(dir)) {
		check(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof path, "%s/fifo.gguf", dir);
	int made = mkfifo(path, 0600) == 0;
	check(made && open_msg(path, msg, sizeof msg) < 0 && strstr(msg, "not a regular file") && strstr(msg, path),
	      "a FIFO is refused without waiting: %s", msg);
	unlink(path);
	check(open_msg("/dev/zero", msg, sizeof msg) < 0 && strstr(msg, "/dev/zero: not a regular file"),
	      "/dev/zero is refused: %s", msg);
	check(open_msg(dir, msg, sizeof msg) < 0 && strstr(msg, "config.json"),
	      "a directory without config.json is refused naming it: %s", msg);
	snprintf(path, sizeof path, "%s/none.gguf", dir);
	check(open_msg(path, msg, sizeof msg) == -ENOENT && strstr(msg, path), "a missing file: %s", msg);
	snprintf(path, sizeof path, "%s/x-00001-of-00002.gguf", dir);
	check(open_msg(path, msg, sizeof msg) == -ENOENT && strstr(msg, path), "a missing first shard: %s", msg);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "show"))
		return show(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: test_models [show PATH]\n");
		return 2;
	}
	type_sizes();
	parse_memory();
	not_models();
	return tap_done();
}
