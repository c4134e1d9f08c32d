# sim/fanbench: tb-fand's control against the thermal plant, in plant time
#  libtbfanbench: the plant IO backend and the benchmark (for tb fanbench and the tests)
#  tb fanbench:   tb-fand vs the linear and pid baselines on the standard traces (make bench)
LIBS += $(LIB)/libtbfanbench.a
$(LIB)/libtbfanbench.a: $(call objs,sim/fanbench/io_plant.c sim/fanbench/bench.c)

$(OBJ)/sim/fanbench/fanbench_cmd.o: CFLAGS += -DTB_SRC_DIR='"$(CURDIR)"'
PROGS += $(LIBEXEC)/tb-fanbench
$(LIBEXEC)/tb-fanbench: $(call objs,sim/fanbench/fanbench_cmd.c) $(LIB)/libtbfanbench.a $(LIB)/libtbfan.a \
                        $(LIB)/libtbplant.a $(LIB)/libtbutil.a
	$(link) -lm

# make bench: the acoustic benchmark on the standard traces
BENCHES += sim/fanbench/bench.sh
