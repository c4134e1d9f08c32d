# tests/infer: libtbinfer's models (files written by mkmodel.py)
$(TBIN)/test_models: $(call objs,tests/infer/test_models.c) $(LIB)/libtbinfer.a $(LIB)/libtbstore.a
	$(link) $(LIBS_TBINFER) $(LIBS_TBSTORE)

TESTS += $(TBIN)/test_models tests/infer/models.sh
tests: $(TBIN)/test_models
