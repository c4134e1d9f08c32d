# tests/isa: the emulator's decoder oracle, differential and fault tests
ISA_TEST_OBJECTS := $(TBIN)/isa/encodings.o

$(TBIN)/isa/encodings.o: tests/isa/encodings.s
	@mkdir -p $(@D)
	@echo "  MC    $@"
	@llvm-mc-19 -arch=amdgcn -mcpu=gfx1100 -filetype=obj $< -o $@

$(TBIN)/test_decode: $(call objs,tests/isa/test_decode.c) $(LIB)/libtbisa.a | $(ISA_TEST_OBJECTS)
	$(link) -lm

TESTS += tests/isa/decode.sh tests/isa/faults.sh
tests: $(TBIN)/test_decode $(ISA_TEST_OBJECTS) $(GPU)/tests/isa/faults.co
