# driver/: libtbdrv, the userspace GPU driver
LIBS += $(LIB)/libtbdrv.a
libtbdrv_SRCS := driver/codeobj.c driver/gpu.c driver/signal.c driver/queue.c
$(LIB)/libtbdrv.a: $(call objs,$(libtbdrv_SRCS))
# What a program linking the driver's GPU side needs.
LIBS_TBDRV := $(LIBS_DRM) $(LIBS_PCI) $(LIBS_ELF) $(LIBS_MSGPACK)

PROGS += $(LIBEXEC)/tb-info
$(LIBEXEC)/tb-info: $(call objs,driver/info_cmd.c) $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV)
