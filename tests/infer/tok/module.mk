# tests/infer/tok: libtbinfer's tokenizers and chat templates against an
# independent Python implementation (ref_tok.py).
$(TBIN)/test_tok: $(call objs,tests/infer/tok/test_tok.c) $(INFER_ARCHIVES)
	$(link) $(INFER_LINK)

TESTS += tests/infer/tok/tok.sh
tests: $(TBIN)/test_tok
