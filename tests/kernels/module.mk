# tests/kernels: the GPU test kernels (OpenCL C, built for gfx1100), their
# host builds (the reference) and the differential test, which `make run`
# also uses for its table.
KERNEL_SRCS := $(wildcard tests/kernels/*.cl)
KERNEL_COS := $(patsubst %.cl,$(GPU)/%.co,$(KERNEL_SRCS))
KERNEL_HOST_OBJS := $(patsubst tests/kernels/%.cl,$(OBJ)/tests/kernels/host/%.o,$(KERNEL_SRCS))
# The host reference rounds as the GPU does: no contraction, and _Float16
# rounded after every operation.
KERNEL_HOST_CFLAGS := -x c -ffp-contract=off -fexcess-precision=standard -Wno-missing-prototypes \
                      -Wno-unused-parameter

$(KERNEL_COS): tests/kernels/tk.h

$(OBJ)/tests/kernels/host/%.o: tests/kernels/%.cl tests/kernels/tk.h
	@mkdir -p $(@D)
	@echo "  CC    $< (host reference)"
	@$(CC) $(CFLAGS) $(KERNEL_HOST_CFLAGS) -c -o $@ $<

$(TBIN)/kernel_diff: $(call objs,tests/kernels/diff.c tests/kernels/host.c) $(KERNEL_HOST_OBJS) \
                     $(LIB)/libtbhal.a $(LIB)/libtbemu.a $(LIB)/libtbisa.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV) -lm

PROGS += $(TBIN)/kernel_diff $(KERNEL_COS)
TESTS += $(TBIN)/kernel_diff

# The emulator's throughput on these kernels (make bench).
$(TBIN)/bench_emu: $(call objs,tests/kernels/bench.c) $(LIB)/libtbemu.a $(LIB)/libtbisa.a $(LIB)/libtbdrv.a \
                   | $(KERNEL_COS)
	$(link) $(LIBS_ELF) $(LIBS_MSGPACK) -lm
BENCHES += $(TBIN)/bench_emu
