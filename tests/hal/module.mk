# tests/hal: libtbhal and its Python binding on the simulated box
$(TBIN)/test_hal: $(call objs,tests/hal/test_hal.c) $(LIB)/libtbhal.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

TESTS += tests/hal/hal.sh
tests: $(TBIN)/test_hal $(LIB)/libtbhal.so $(GPU)/tests/sim/box_kernels.co
