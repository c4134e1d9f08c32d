# tests/sim: the simulated box, driven by the unmodified tools and by the driver
$(TBIN)/box_test: $(call objs,tests/sim/box_test.c) $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

$(TBIN)/events_test: $(call objs,tests/sim/events_test.c) $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)

$(TBIN)/md_direct_test: $(call objs,tests/sim/md_direct_test.c) $(LIB)/libtbstore.a
	$(link) $(LIBS_TBSTORE)

TESTS += tests/sim/box.sh tests/sim/sensors.sh tests/sim/kernels.sh tests/sim/events.sh tests/sim/cli.sh tests/sim/run.sh \
         tests/sim/drives.sh tests/sim/md.sh \
         tests/sim/clients.sh
tests: $(TBIN)/box_test $(TBIN)/events_test $(TBIN)/md_direct_test $(GPU)/tests/sim/box_kernels.co
