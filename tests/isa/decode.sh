#!/bin/sh
# Decoder oracle over the instruction sample and every test kernel's code
# object: mnemonics and lengths as llvm-objdump-19 prints them; the test
# kernels' instructions must also be executable by the emulator.
. "$TB_SRC/tests/tap.sh"
t="$TB_BUILD/tests/test_decode"
tap_run "sample: " "$t" "$TB_BUILD/tests/isa/encodings.o"
set -- "$TB_BUILD"/gpu/tests/kernels/*.co
if [ -e "$1" ]; then
  tap_run "" "$t" --executable "$@"
else
  not_ok "the test kernels' code objects are built" "none in $TB_BUILD/gpu/tests/kernels"
fi
