# tests/hal: libtbhal and its Python binding on the simulated box, and the
# driver's queues where the HAL cannot reach (test_drv)
$(TBIN)/test_hal: $(call objs,tests/hal/test_hal.c) $(LIB)/libtbhal.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)
$(TBIN)/test_drv: $(call objs,tests/hal/test_drv.c) $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

TESTS += tests/hal/hal.sh
tests: $(TBIN)/test_hal $(TBIN)/test_drv $(LIB)/libtbhal.so $(LIB)/asan/libtbhal.so $(GPU)/tests/sim/box_kernels.co $(GPU)/tests/hal/hal_kernels.co
