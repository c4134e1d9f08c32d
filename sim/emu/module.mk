# sim/emu: running one kernel on the emulator (libtbemu) and `tb emu`
LIBS += $(LIB)/libtbemu.a
$(LIB)/libtbemu.a: $(call objs,sim/emu/emu.c)

PROGS += $(LIBEXEC)/tb-emu
$(LIBEXEC)/tb-emu: $(call objs,sim/emu/emu_cmd.c) $(LIB)/libtbemu.a $(LIB)/libtbisa.a $(LIB)/libtbdrv.a
	$(link) $(LIBS_ELF) $(LIBS_MSGPACK) -lm
