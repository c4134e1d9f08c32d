# tests/infer: libtbinfer's models (files written by mkmodel.py)
$(TBIN)/test_models: $(call objs,tests/infer/test_models.c) $(LIB)/libtbinfer.a $(LIB)/libtbstore.a
	$(link) $(LIBS_TBINFER) $(LIBS_TBSTORE)

TESTS += $(TBIN)/test_models tests/infer/models.sh
tests: $(TBIN)/test_models

# the engine on the box against the host reference forward pass
$(TBIN)/test_engine: $(call objs,tests/infer/test_engine.c tests/infer/ref.c) $(INFER_ARCHIVES)
	$(link) $(INFER_LINK)
TESTS += tests/infer/engine.sh tests/infer/engine_q.sh tests/infer/engine_hf.sh
tests: $(TBIN)/test_engine
