# util/: libtbutil, small pieces several components need (util/tbutil.h):
# the bounded line reader of the fan controller's and the plant's files.
LIBS += $(LIB)/libtbutil.a
$(LIB)/libtbutil.a: $(call objs,util/lines.c)
