# infer/: libtbinfer (models, tokenizers, the engine).  Each part appends
# its sources to libtbinfer_SRCS.  Programs linking the library add
# $(LIBS_TBINFER) and, for Hugging Face directories, libtbstore's
# $(LIB)/libtbstore.a with $(LIBS_TBSTORE).
LIBS += $(LIB)/libtbinfer.a
libtbinfer_SRCS += infer/model.c infer/gguf.c infer/hf.c
$(LIB)/libtbinfer.a: $(call objs,$(libtbinfer_SRCS))
LIBS_TBINFER := $(call pc,jansson) -lm
