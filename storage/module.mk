# storage/: libtbstore (io_uring loading, md RAID0 direct path, safetensors,
# manifests) and its commands `tb load` and `tb store`
LIBS += $(LIB)/libtbstore.a
libtbstore_SRCS := storage/open.c storage/hash.c storage/source.c storage/engine.c storage/safetensors.c storage/manifest.c storage/load.c storage/health.c \
                   storage/locate.c
$(LIB)/libtbstore.a: $(call objs,$(libtbstore_SRCS))
LIBS_TBSTORE := $(LIBS_URING) $(LIBS_XXHASH) $(call pc,jansson) $(LIBS_NVME)

STORE_CMD := $(call objs,storage/cmd.c)
PROGS += $(LIBEXEC)/tb-load $(LIBEXEC)/tb-store
$(LIBEXEC)/tb-load: $(call objs,storage/load_cmd.c) $(STORE_CMD) $(LIB)/libtbstore.a $(LIB)/libtbhal.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBSTORE) $(LIBS_TBDRV)
$(LIBEXEC)/tb-store: $(call objs,storage/store_cmd.c) $(STORE_CMD) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE)

BENCHES += storage/bench.sh

PROGS += $(LIBEXEC)/tb-raid
$(LIBEXEC)/tb-raid: $(call objs,storage/raid_cmd.c) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE)

PROGS += $(BIN)/tb-stored
$(BIN)/tb-stored: $(call objs,storage/stored.c) $(STORE_CMD) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE) $(LIBS_SYSTEMD)
