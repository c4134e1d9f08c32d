# tests/fancontrol: tb-fand's core on the plant (config errors, failsafe,
# the standard traces' targets in plant time) and the daemon on the box
$(OBJ)/tests/fancontrol/test_fan.o: CFLAGS += -DTB_SRC_DIR='"$(CURDIR)"'
$(TBIN)/test_fan: $(call objs,tests/fancontrol/test_fan.c tests/plant/util.c) $(LIB)/libtbfanbench.a $(LIB)/libtbfan.a $(LIB)/libtbplant.a $(LIB)/libtbutil.a
	$(link) $(LIBS_CMOCKA) -lm

TESTS += $(TBIN)/test_fan tests/fancontrol/fand.sh tests/fancontrol/files.sh tests/fancontrol/shipped.sh tests/fancontrol/cmds.sh tests/fancontrol/calibrate.sh tests/fancontrol/sensors.sh
