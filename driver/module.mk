# driver/: libtbdrv, the userspace GPU driver
LIBS += $(LIB)/libtbdrv.a
libtbdrv_SRCS := driver/codeobj.c driver/gpu.c driver/signal.c driver/queue.c
$(LIB)/libtbdrv.a: $(call objs,$(libtbdrv_SRCS))
