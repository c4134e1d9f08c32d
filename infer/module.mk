# infer/: libtbinfer (models, tokenizers, the engine; infer/tbinfer.h) and
# its commands tb generate and tb chat.  Each part appends its sources to
# libtbinfer_SRCS.  Programs linking the library add $(LIBS_TBINFER),
# libtbstore, libtbhal and libtbdrv after it.
LIBS += $(LIB)/libtbinfer.a
libtbinfer_SRCS += infer/model.c infer/gguf.c infer/hf.c
libtbinfer_SRCS += infer/tokenizer.c infer/chat.c infer/utf8.c
libtbinfer_SRCS += infer/engine.c
$(LIB)/libtbinfer.a: $(call objs,$(libtbinfer_SRCS))
LIBS_TBINFER := $(call pc,jansson) -lunistring -lm
INFER_LINK = $(LIBS_TBINFER) $(LIBS_TBSTORE) $(LIBS_TBDRV)
INFER_ARCHIVES := $(LIB)/libtbinfer.a $(LIB)/libtbstore.a $(LIB)/libtbhal.a $(LIB)/libtbdrv.a

INFER_CMD := $(call objs,infer/cmd.c)
PROGS += $(LIBEXEC)/tb-generate $(LIBEXEC)/tb-chat
$(LIBEXEC)/tb-generate: $(call objs,infer/generate_cmd.c) $(INFER_CMD) $(INFER_ARCHIVES) | $(BUILD)/share/tb/infer.co
	$(link) $(INFER_LINK)
$(LIBEXEC)/tb-chat: $(call objs,infer/chat_cmd.c) $(INFER_CMD) $(INFER_ARCHIVES) | $(BUILD)/share/tb/infer.co
	$(link) $(INFER_LINK)
BENCHES += infer/bench.sh
