/* The tokenizer test's own tbi_fail (libtbinfer defines it in infer/model.c;
 * this copy is linked only into test_tok while that file is not on this
 * branch, and goes when it is). */
#include <stdarg.h>
#include <stdio.h>

#include "infer/internal.h"

int tbi_fail(struct tbi_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}
