# tests/fuzz: libFuzzer targets (clang-19), run briefly by `make test` from
# the test kernels' code objects as seeds; `make fuzz` runs them longer.
FUZZ_CC := clang-19
FUZZ_FLAGS := -std=gnu17 -g -O1 -D_GNU_SOURCE -I. -Imk/include -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined $(call pcflags,libelf msgpack libdrm_amdgpu libdrm)
$(TBIN)/codeobj_fuzz: tests/fuzz/codeobj_fuzz.c driver/codeobj.c driver/tbdrv.h
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/codeobj_fuzz.c driver/codeobj.c $(LIBS_ELF) $(LIBS_MSGPACK)

TESTS += tests/fuzz/codeobj.sh
tests: $(TBIN)/codeobj_fuzz $(KERNEL_COS)

.PHONY: fuzz
fuzz: $(TBIN)/codeobj_fuzz $(KERNEL_COS)
	@TB_BUILD=$(abspath $(BUILD)) TB_FUZZ_SECONDS=$${TB_FUZZ_SECONDS:-600} sh tests/fuzz/codeobj.sh

# libtbinfer's GGUF parser and Hugging Face directory reader
GGUF_FUZZ_SRCS := tests/fuzz/gguf_fuzz.c infer/model.c infer/gguf.c infer/hf.c storage/safetensors.c storage/source.c \
                  storage/open.c
$(TBIN)/gguf_fuzz: $(GGUF_FUZZ_SRCS) infer/internal.h infer/model_impl.h storage/tbstore.h
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(GGUF_FUZZ_SRCS) $(call pc,jansson) -lm

TESTS += tests/fuzz/gguf.sh
tests: $(TBIN)/gguf_fuzz
.PHONY: fuzz-gguf
fuzz: fuzz-gguf
fuzz-gguf: $(TBIN)/gguf_fuzz
	@TB_BUILD=$(abspath $(BUILD)) TB_SRC=$(CURDIR) TB_FUZZ_SECONDS=$${TB_FUZZ_SECONDS:-600} sh tests/fuzz/gguf.sh

# libtbinfer's chat templates and the tokenizing of a rendered conversation
CHAT_FUZZ_SRCS := tests/fuzz/chat_fuzz.c infer/chat.c infer/tokenizer.c infer/utf8.c infer/model.c infer/gguf.c \
                  infer/hf.c storage/safetensors.c storage/source.c storage/open.c
$(TBIN)/chat_fuzz: $(CHAT_FUZZ_SRCS) infer/internal.h infer/model_impl.h storage/tbstore.h
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(CHAT_FUZZ_SRCS) $(call pc,jansson) -lunistring -lm

TESTS += tests/fuzz/chat.sh
tests: $(TBIN)/chat_fuzz
.PHONY: fuzz-chat
fuzz: fuzz-chat
fuzz-chat: $(TBIN)/chat_fuzz
	@TB_BUILD=$(abspath $(BUILD)) TB_SRC=$(CURDIR) TB_FUZZ_SECONDS=$${TB_FUZZ_SECONDS:-600} sh tests/fuzz/chat.sh

# tb-inferd's request parser (a JSON body to a generation request) and stop matcher
REQUEST_FUZZ_SRCS := tests/fuzz/request_fuzz.c infer/server/request.c
$(TBIN)/request_fuzz: $(REQUEST_FUZZ_SRCS) infer/server/inferd.h infer/tbinfer.h
	@mkdir -p $(@D)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(REQUEST_FUZZ_SRCS) $(call pc,jansson)

TESTS += tests/fuzz/request.sh
tests: $(TBIN)/request_fuzz
.PHONY: fuzz-request
fuzz: fuzz-request
fuzz-request: $(TBIN)/request_fuzz
	@TB_BUILD=$(abspath $(BUILD)) TB_SRC=$(CURDIR) TB_FUZZ_SECONDS=$${TB_FUZZ_SECONDS:-600} sh tests/fuzz/request.sh
