# tests/infer/kern: libtbinfer's GPU kernels (infer/kernels.cl, installed as
# build/share/tb/infer.co), checked against host computations on the box,
# and the host reference forward pass (tests/infer/ref.c) on a hand-built
# model.
PROGS += $(BUILD)/share/tb/infer.co
$(BUILD)/share/tb/infer.co: $(GPU)/infer/kernels.co
	@mkdir -p $(@D)
	@cp $< $@

$(TBIN)/test_infer_kernels: $(call objs,tests/infer/kern/test_kernels.c tests/infer/ref.c) $(LIB)/libtbhal.a \
                            $(LIB)/libtbdrv.a
	$(link) $(LIBS_TBDRV) -lm

TESTS += tests/infer/kern/kernels.sh
tests: $(TBIN)/test_infer_kernels

# the reference forward pass on hand-built models (on the host)
$(TBIN)/test_infer_ref: $(call objs,tests/infer/kern/test_ref.c tests/infer/ref.c)
	$(link) -lm
TESTS += $(TBIN)/test_infer_ref
