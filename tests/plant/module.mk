# tests/plant: libtbplant's config and trace files, physics, fans, acoustics
PLANT_TEST_UTIL := $(call objs,tests/plant/util.c)

$(TBIN)/test_plant_files: $(call objs,tests/plant/test_plant_files.c) $(PLANT_TEST_UTIL) $(LIB)/libtbplant.a $(LIB)/libtbutil.a
	$(link) $(LIBS_CMOCKA) -lm
$(TBIN)/test_plant_model: $(call objs,tests/plant/test_plant_model.c) $(PLANT_TEST_UTIL) $(LIB)/libtbplant.a $(LIB)/libtbutil.a
	$(link) $(LIBS_CMOCKA) -lm

TESTS += $(TBIN)/test_plant_files $(TBIN)/test_plant_model
