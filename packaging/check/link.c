/* A program built against the installed -dev packages with nothing but
 * `pkg-config --cflags --libs tbinfer`: every library's header compiles and
 * every library links with what its .pc file names (libtbinfer brings
 * libtbstore, libtbhal and libtbdrv).  It calls nothing unless asked, so it
 * runs on a machine without GPUs. */
#include <stdio.h>
#include <string.h>

#include "tbdrv.h"
#include "tbhal.h"
#include "tbinfer.h"
#include "tbstore.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--call")) {
		/* one function of each library, each harmless on NULL */
		tb_codeobj_free(NULL);
		tbs_source_close(NULL);
		tbi_engine_close(NULL);
		printf("GPUs: %d\n", tbh_device_count());
	}
	puts("linked");
	return 0;
}
