/* libFuzzer target for tb-inferd's request parser: any bytes as a chat
 * completions body and as a completions body, with small limits so that
 * each limit is reached.  A refusal must come with a message; an accepted
 * request must hold only values within their ranges, and its stop strings
 * go through the stop matcher over the prompt's text.  A crash, a leak or
 * undefined behaviour is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/server/inferd.h"

static void check_stop(const struct inferd_request *r, const char *text)
{
	size_t len = strlen(text), at = len, visible = len;
	bool found = inferd_stop_scan(text, len, r->stop, r->nstop, &at, &visible);
	if (visible > len || (found && (at != visible || at > len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct inferd_limits lim = { .max_depth = 8, .max_messages = 16, .max_chars = 4096 };
	for (int kind = INFERD_CHAT; kind <= INFERD_COMPLETION; kind++) {
		struct inferd_request r;
		char msg[256] = "";
		const char *param = NULL;
		int rc = inferd_request_parse((const char *)data, size, kind, &lim, 42, &r, msg, sizeof msg, &param);
		if (rc) {
			if (!msg[0] || !param)
				abort();
			continue;
		}
		if (r.sampling.temperature < 0 || r.sampling.temperature > 2 || r.sampling.top_p <= 0 ||
		    r.sampling.top_p > 1 || r.sampling.top_k < 1 || r.sampling.top_k > 256 || r.nstop > INFERD_MAX_STOP ||
		    r.max_tokens > (1u << 20) || (kind == INFERD_CHAT ? r.nmsgs == 0 || r.nmsgs > 16 : !r.prompt))
			abort();
		size_t chars = 0;
		for (size_t i = 0; i < r.nmsgs; i++) {
			chars += strlen(r.msgs[i].content);
			check_stop(&r, r.msgs[i].content);
		}
		if (r.prompt) {
			chars += strlen(r.prompt);
			check_stop(&r, r.prompt);
		}
		if (chars > lim.max_chars)
			abort();
		inferd_request_free(&r);
	}
	return 0;
}
