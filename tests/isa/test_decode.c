/* Decoder oracle: every instruction of every given code object decodes to
 * the mnemonic and length llvm-objdump-19 prints for it, and (with
 * --executable) the emulator can execute it.
 *
 *   test_decode [--executable] FILE...     TAP output, one test per file */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/isa/isa.h"

/* One objdump line: "\tMNEMONIC OPERANDS   // 000000001904: F4000080 F800002C" */
static bool parse_line(const char *line, char *mnemonic, size_t mlen, uint32_t words[3], int *nwords)
{
	const char *c = strstr(line, "// ");
	if (!c)
		return false;
	const char *colon = strchr(c, ':');
	if (!colon)
		return false;
	/* the text before the comment is the instruction */
	const char *p = line;
	while (*p == '\t' || *p == ' ')
		p++;
	if (p >= c)
		return false;
	size_t n = 0;
	while (p < c && *p != ' ' && *p != '\t' && n + 1 < mlen)
		mnemonic[n++] = *p++;
	mnemonic[n] = '\0';
	/* VOPD: "v_dual_x ... :: v_dual_y ..." */
	const char *dual = strstr(line, " :: ");
	if (dual && dual < c) {
		const char *y = dual + 4;
		size_t k = 0;
		char second[64];
		while (y < c && *y != ' ' && k + 1 < sizeof second)
			second[k++] = *y++;
		second[k] = '\0';
		snprintf(mnemonic + n, mlen - n, " :: %s", second);
	}
	*nwords = 0;
	const char *h = colon + 1;
	while (*nwords < 3) {
		char *end;
		while (*h == ' ')
			h++;
		if (!*h || *h == '\n' || *h == '<')
			break;
		unsigned long v = strtoul(h, &end, 16);
		if (end == h)
			break;
		words[(*nwords)++] = (uint32_t)v;
		h = end;
	}
	return *nwords > 0;
}

static int check_file(const char *path, bool need_exec, int testno)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "llvm-objdump-19 -d --no-leading-addr '%s' 2>&1", path);
	FILE *f = popen(cmd, "r");
	if (!f) {
		printf("not ok %d - decode %s\n# cannot run llvm-objdump-19\n", testno, path);
		return 1;
	}
	char line[1024];
	int count = 0, bad = 0, unexec = 0;
	while (fgets(line, sizeof line, f)) {
		char want[160], got[160];
		uint32_t words[3];
		int nw;
		if (!parse_line(line, want, sizeof want, words, &nw))
			continue;
		if (!strncmp(want, ".long", 5) || !strncmp(want, "s_code_end", 10))
			continue;
		count++;
		bool exec = false;
		int len = isa_disasm_name(words, nw, got, sizeof got, &exec);
		if (len != nw || strcmp(got, want) != 0) {
			if (bad++ < 20)
				printf("# %s: words %08x%s: llvm-objdump says %s (%d dwords), we say %s (%d dwords)\n", path,
				       words[0], nw > 1 ? "..." : "", want, nw, len ? got : "(nothing)", len);
		} else if (need_exec && !exec) {
			if (unexec++ < 20)
				printf("# %s: %s (%08x) decodes but the emulator cannot execute it\n", path, want, words[0]);
		}
	}
	int st = pclose(f);
	if (count == 0 || st != 0) {
		printf("not ok %d - decode %s\n# llvm-objdump-19 found no instructions (status %d)\n", testno, path, st);
		return 1;
	}
	bool ok = bad == 0 && (!need_exec || unexec == 0);
	printf("%s %d - decode %s: %d instructions, %d mismatches%s\n", ok ? "ok" : "not ok", testno, path, count, bad,
	       need_exec ? (unexec ? ", some not executable" : ", all executable") : "");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	bool need_exec = false;
	int first = 1;
	if (argc > 1 && !strcmp(argv[1], "--executable")) {
		need_exec = true;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr, "usage: test_decode [--executable] FILE...\n");
		return 2;
	}
	printf("1..%d\n", argc - first);
	int failed = 0;
	for (int i = first; i < argc; i++)
		failed += check_file(argv[i], need_exec, i - first + 1);
	return failed ? 1 : 0;
}
