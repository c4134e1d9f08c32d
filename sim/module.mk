# sim/: the simulated box.
#  libtbsim: what the tb sim command needs (state directory, namespace, protocol)
#  tb-simd:  the daemon (box, simulated kernel, GPUs)
#  libtbsim-preload.so: the simulated kernel's side inside client processes
LIBS += $(LIB)/libtbsim.a
libtbsim_SRCS := sim/kmd/ns.c sim/kmd/topology.c sim/box/state.c sim/box/proto.c
$(LIB)/libtbsim.a: $(call objs,$(libtbsim_SRCS))

PROGS += $(LIBEXEC)/tb-sim
$(LIBEXEC)/tb-sim: $(call objs,sim/box/sim_cmd.c) $(LIB)/libtbsim.a
	$(link)

simd_SRCS := sim/box/simd.c sim/box/gpu.c sim/box/sysfs.c sim/box/pci.c sim/box/klog.c sim/box/fault.c \
             sim/box/engines.c sim/box/ip_discovery.c sim/box/sensors.c sim/kmd/kfd.c sim/kmd/drm.c \
             sim/kmd/kfd_topology.c sim/kmd/vm.c sim/kmd/smi.c sim/kmd/queue.c \
             sim/box/drives.c sim/box/nvme.c sim/box/md.c sim/box/blkfs.c sim/box/drive_io.c sim/box/udev.c \
             sim/kmd/kfd_procfs.c
# the box's block devices stand on files the daemon serves by FUSE (libfuse3)
$(OBJ)/sim/box/blkfs.o: CFLAGS += $(call pcflags,fuse3)
PROGS += $(BIN)/tb-simd
$(BIN)/tb-simd: $(call objs,$(simd_SRCS)) $(LIB)/libtbsim.a $(LIB)/libtbgpu.a $(LIB)/libtbisa.a $(LIB)/libtbplant.a $(LIB)/libtbutil.a
	$(link) -lm $(LIBS_XXHASH) $(call pc,fuse3) $(call pc,blkid)

# The preloaded library goes into programs built without sanitizers (lspci,
# sensors...): it is always built without them, position independent, and
# exports only the functions it stands in for.
PRELOAD_SRCS := sim/kmd/preload.c sim/box/proto.c
PRELOAD_CFLAGS := -std=gnu17 $(WARN) -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden -pthread -I. -Imk/include -MMD -MP \
                  $(call pcflags,libdrm)
PROGS += $(LIB)/libtbsim-preload.so
$(OBJ)/pic/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $< (pic)"
	@$(CC) $(PRELOAD_CFLAGS) -c -o $@ $<
$(LIB)/libtbsim-preload.so: $(patsubst %.c,$(OBJ)/pic/%.o,$(PRELOAD_SRCS))
	@mkdir -p $(@D)
	@echo "  LD    $@"
	@$(CC) -shared -pthread -o $@ $^ -ldl
