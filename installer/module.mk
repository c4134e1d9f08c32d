# installer/: tb setup (plan, apply, verify the appliance's desired state)
# and the commands that belong with it.  Every installer/*.c but the
# commands (*_cmd.c) goes into libtbsetup.a (framework and steps); each
# installer/NAME_cmd.c is the command tb NAME.
setup_CMDS := $(wildcard installer/*_cmd.c)
setup_LIB_SRCS := $(filter-out $(setup_CMDS),$(wildcard installer/*.c))
setup_PROGS := $(patsubst installer/%_cmd.c,$(LIBEXEC)/tb-%,$(setup_CMDS))
LIBS += $(LIB)/libtbsetup.a
$(LIB)/libtbsetup.a: $(call objs,$(setup_LIB_SRCS))
PROGS += $(setup_PROGS)
$(setup_PROGS): $(LIBEXEC)/tb-%: $(OBJ)/installer/%_cmd.o $(LIB)/libtbsetup.a $(LIB)/libtbutil.a
	$(link) $(call pc,jansson libxxhash blkid) -lm
