# tests/hal: libtbhal and its Python binding on the simulated box, and the
# driver's queues where the HAL cannot reach (test_drv)
$(TBIN)/test_hal: $(call objs,tests/hal/test_hal.c) $(LIB)/libtbhal.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)
$(TBIN)/test_drv: $(call objs,tests/hal/test_drv.c) $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

# test_drv_threads: the driver's sources and the test under ThreadSanitizer
# (only these: it does not mix with ASan, and the rest needs none of it)
TSAN_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS)) -fsanitize=thread
$(OBJ)/tsan/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $< (tsan)"
	@$(CC) $(TSAN_CFLAGS) -c -o $@ $<
$(TBIN)/test_drv_threads: $(patsubst %.c,$(OBJ)/tsan/%.o,tests/hal/test_drv_threads.c $(libtbdrv_SRCS))
	@mkdir -p $(@D)
	@echo "  LD    $@ (tsan)"
	@$(CC) -pthread -fsanitize=thread -o $@ $(filter %.o,$^) $(LIBS_TBDRV)

TESTS += tests/hal/hal.sh
tests: $(TBIN)/test_drv_threads $(TBIN)/test_hal $(TBIN)/test_drv $(LIB)/libtbhal.so $(LIB)/asan/libtbhal.so $(GPU)/tests/sim/box_kernels.co $(GPU)/tests/hal/hal_kernels.co

# huge_scratch.co: a crafted code object, the compiled kernel's assembly with
# its private segment size (descriptor and metadata alike) set to 2^27 + 64
GPU_MC ?= llvm-mc-19
$(GPU)/tests/hal/huge_scratch.co: tests/hal/huge_scratch.cl
	@mkdir -p $(@D)
	@echo "  GPU   $@ (crafted)"
	@$(GPU_CC) $(GPU_CLFLAGS) -S -o $(@:.co=.s) $<
	@sed -E 's/(private_segment_fixed_size:? )[0-9]+$$/\1134217792/' $(@:.co=.s) >$(@:.co=.crafted.s)
	@test "$$(grep -c 'private_segment_fixed_size:\? 134217792$$' $(@:.co=.crafted.s))" = 2
	@$(GPU_MC) -triple=amdgcn-amd-amdhsa -mcpu=gfx1100 -filetype=obj -o $(@:.co=.o) $(@:.co=.crafted.s)
	@$(GPU_LD) -shared -o $@ $(@:.co=.o)
tests: $(GPU)/tests/hal/huge_scratch.co
