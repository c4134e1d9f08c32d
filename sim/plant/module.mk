# sim/plant: the box's thermal, airflow and acoustic model (libtbplant)
LIBS += $(LIB)/libtbplant.a
libtbplant_SRCS := $(wildcard sim/plant/*.c)
$(LIB)/libtbplant.a: $(call objs,$(libtbplant_SRCS))
