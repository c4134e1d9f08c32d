# sim/isa: the gfx1100 emulator (libtbisa)
LIBS += $(LIB)/libtbisa.a
libtbisa_SRCS := $(wildcard sim/isa/*.c)
$(LIB)/libtbisa.a: $(call objs,$(libtbisa_SRCS))
# The emulator's per-lane loops are written to vectorize; -O3 lets gcc do it.
$(call objs,$(libtbisa_SRCS)): CFLAGS += -O3
