# sim/gpu: the simulated GPU's command engines (PM4 compute CP, SDMA), libtbgpu
LIBS += $(LIB)/libtbgpu.a
libtbgpu_SRCS := sim/gpu/gmem.c sim/gpu/pm4.c sim/gpu/sdma.c
$(LIB)/libtbgpu.a: $(call objs,$(libtbgpu_SRCS))
