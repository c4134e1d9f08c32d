# hal/: libtbhal, the GPUs for the tensor runtime (hal/tbhal.h), its
# pkg-config file, the Python binding (hal/python, ctypes only), and the
# kernels its commands and examples use (build/share/tb/tbhal_kernels.co,
# found relative to the program or the library, never the current directory).
SHARE := $(BUILD)/share/tb
LIBS += $(LIB)/libtbhal.a $(LIB)/libtbhal.so $(LIB)/pkgconfig/tbhal.pc $(SHARE)/tbhal_kernels.co
$(SHARE)/tbhal_kernels.co: $(GPU)/hal/kernels.co
	@mkdir -p $(@D)
	@cp $< $@
libtbhal_SRCS := hal/hal.c
$(LIB)/libtbhal.a: $(call objs,$(libtbhal_SRCS))

# The shared library the Python binding loads: the HAL and the driver,
# position independent, exporting the tbh_ API only.
HAL_PIC_SRCS := hal/hal.c driver/codeobj.c driver/gpu.c driver/signal.c driver/queue.c
HAL_PIC_CFLAGS := $(filter-out -fsanitize=%,$(CFLAGS)) -fPIC
$(OBJ)/halpic/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $< (pic)"
	@$(CC) $(HAL_PIC_CFLAGS) -c -o $@ $<
$(LIB)/libtbhal.so: $(patsubst %.c,$(OBJ)/halpic/%.o,$(HAL_PIC_SRCS)) hal/libtbhal.map
	@mkdir -p $(@D)
	@echo "  LD    $@"
	@$(CC) -shared -pthread -Wl,--version-script=hal/libtbhal.map -o $@ $(filter %.o,$^) \
		$(LIBS_TBDRV)

# The same library with AddressSanitizer and UBSan, for the Python
# binding's tests (python3 runs with the sanitizer runtimes preloaded).
HAL_ASAN_CFLAGS := $(HAL_PIC_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
$(OBJ)/halasan/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $< (pic, asan)"
	@$(CC) $(HAL_ASAN_CFLAGS) -c -o $@ $<
$(LIB)/asan/libtbhal.so: $(patsubst %.c,$(OBJ)/halasan/%.o,$(HAL_PIC_SRCS)) hal/libtbhal.map
	@mkdir -p $(@D)
	@echo "  LD    $@"
	@$(CC) -shared -pthread -fsanitize=address,undefined -Wl,--version-script=hal/libtbhal.map -o $@ \
		$(filter %.o,$^) $(LIBS_TBDRV)

$(LIB)/pkgconfig/tbhal.pc: hal/tbhal.pc.in
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(abspath $(BUILD))|' -e 's|@SRC@|$(abspath .)|' $< >$@

PROGS += $(LIBEXEC)/tb-bench
$(LIBEXEC)/tb-bench: $(call objs,hal/bench_cmd.c) $(LIB)/libtbhal.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

# make bench: the dispatch and copy figures, on a box of their own
BENCHES += hal/bench.sh
