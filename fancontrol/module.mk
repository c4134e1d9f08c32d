# fancontrol/: tb-fand, the acoustic fan controller
#  libtbfan:      the control core, config parser, planner, status (no IO)
#  tb-fand:       the daemon (libsensors + sysfs backend, systemd notify)
#  tb fan:        status, calibrate
# (The benchmark on the thermal plant is the simulator's: sim/fanbench.)
LIBS += $(LIB)/libtbfan.a
$(LIB)/libtbfan.a: $(call objs,fancontrol/config.c fancontrol/control.c fancontrol/plan.c fancontrol/status.c \
                                fancontrol/calibration.c)

$(OBJ)/fancontrol/fan_cmd.o: CFLAGS += -DTB_SRC_DIR='"$(CURDIR)"'
PROGS += $(LIBEXEC)/tb-fan
$(LIBEXEC)/tb-fan: $(call objs,fancontrol/fan_cmd.c fancontrol/io_sysfs.c) $(LIB)/libtbfan.a $(LIB)/libtbutil.a
	$(link) $(LIBS_SENSORS) $(call pc,jansson) -lm

PROGS += $(BIN)/tb-fand
$(BIN)/tb-fand: $(call objs,fancontrol/fand.c fancontrol/io_sysfs.c) $(LIB)/libtbfan.a $(LIB)/libtbutil.a
	$(link) $(LIBS_SENSORS) $(LIBS_SYSTEMD) -lm

# the appliance's tb-fand config, where tb setup's fans step finds it (PREFIX/share/tb)
PROGS += $(BUILD)/share/tb/tb-fand.conf
$(BUILD)/share/tb/tb-fand.conf: fancontrol/tb-fand.conf
	@mkdir -p $(@D)
	@cp $< $@
