# sim/: the simulated box.  libtbsim collects the parts shared by its
# programs (kmd: the kernel interface; box: state and commands).
LIBS += $(LIB)/libtbsim.a
libtbsim_SRCS := sim/kmd/ns.c sim/kmd/topology.c sim/box/state.c
$(LIB)/libtbsim.a: $(call objs,$(libtbsim_SRCS))

PROGS += $(LIBEXEC)/tb-sim
$(LIBEXEC)/tb-sim: $(call objs,sim/box/sim_cmd.c) $(LIB)/libtbsim.a
	$(link)
