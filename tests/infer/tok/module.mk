# tests/infer/tok: libtbinfer's tokenizers and chat templates against an
# independent Python implementation (ref_tok.py).  The sources are listed
# here so that the test builds before infer/module.mk exists.
TOK_SRCS := infer/tokenizer.c infer/chat.c infer/utf8.c
LIBS_UNISTRING := -lunistring

$(TBIN)/test_tok: $(call objs,tests/infer/tok/test_tok.c tests/infer/tok/tok_fail.c $(TOK_SRCS))
	$(link) $(LIBS_UNISTRING)

TESTS += tests/infer/tok/tok.sh
tests: $(TBIN)/test_tok
