/* libFuzzer target for the code object loader: any bytes are parsed, and
 * whatever parses is placed as a loader would place it.  Refusal is fine;
 * a crash, a leak, a hang or undefined behaviour is a bug. */
#include <stdint.h>
#include <stdlib.h>

#include "driver/tbdrv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_codeobj *co = NULL;
	char err[256];
	if (tb_codeobj_parse(data, size, &co, err, sizeof err) == 0) {
		/* the image and every kernel's layout must be usable as parsed */
		uint8_t *image = malloc(co->image_size ? co->image_size : 1);
		if (image) {
			tb_codeobj_place(co, image, 0x100000000ull);
			free(image);
		}
		for (uint32_t i = 0; i < co->nkernels; i++) {
			uint64_t psb[2] = { 0, 0 };
			uint32_t ud[16];
			tb_kernel_user_sgprs(&co->kernels[i], psb, 0, 0, 0, 0, ud);
			(void)tb_codeobj_kernel(co, co->kernels[i].name);
		}
		tb_codeobj_free(co);
	}
	return 0;
}
