# tests/storage: libtbstore's engine, md RAID0 direct path, safetensors, manifests
STORAGE_TEST_UTIL := $(call objs,tests/storage/util.c)

$(TBIN)/test_storage_md: $(call objs,tests/storage/test_md.c) $(STORAGE_TEST_UTIL) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE) $(LIBS_CMOCKA)

TESTS += $(TBIN)/test_storage_md
$(TBIN)/test_storage_engine: $(call objs,tests/storage/test_engine.c) $(STORAGE_TEST_UTIL) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE) $(LIBS_CMOCKA)

TESTS += $(TBIN)/test_storage_engine
$(TBIN)/test_storage_load: $(call objs,tests/storage/test_load.c) $(STORAGE_TEST_UTIL) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE) $(LIBS_CMOCKA)

TESTS += $(TBIN)/test_storage_load
TESTS += tests/storage/commands.sh
TESTS += tests/storage/daemon.sh tests/storage/cancel.sh
TESTS += tests/storage/gpu.sh
