# sim/isa: the gfx1100 emulator (libtbisa)
LIBS += $(LIB)/libtbisa.a
libtbisa_SRCS := $(wildcard sim/isa/*.c)
$(LIB)/libtbisa.a: $(call objs,$(libtbisa_SRCS))
