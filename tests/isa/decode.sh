#!/bin/sh
# Decoder oracle over the instruction sample and every test kernel's code
# object: mnemonics and lengths as llvm-objdump-19 prints them; the test
# kernels' instructions must also be executable by the emulator.
set -u
t="$TB_BUILD/tests/test_decode"
"$t" "$TB_BUILD/tests/isa/encodings.o" | sed 's/^\(not \)\{0,1\}ok 1 /&sample: /'
set -- "$TB_BUILD"/gpu/tests/kernels/*.co
if [ -e "$1" ]; then
  "$t" --executable "$@" | sed 's/^\(\(not \)\{0,1\}ok\) \([0-9]*\)/\1 \3/' | grep -v '^1\.\.'
fi
