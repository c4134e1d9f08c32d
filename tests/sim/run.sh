#!/bin/sh
# make run's job (mk/run.sh) on a box of its own: it boots the box, runs
# every kernel on the six GPUs, and its table is complete: each kernel OK,
# with its wave-instructions counted; the box keeps running afterwards.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
out=$(sh "$TB_SRC/mk/run.sh" "$TB_BUILD" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "make run's job succeeds" || not_ok "make run's job succeeds" "status $rc: $(printf '%s\n' "$out" | tail -n 20)"
contains "it shows the GPUs as lspci sees them" "Navi 31" "$out"
# the table: kernel, grid/block, result, wave-instr, ms
rows=$(printf '%s\n' "$out" | awk '$3 == "OK" || $3 == "FAIL"')
n=$(printf '%s\n' "$rows" | grep -c .)
[ "$n" -ge 20 ] && ok "the table has a row per kernel ($n)" || not_ok "the table has a row per kernel" "$n rows: $out"
bad=$(printf '%s\n' "$rows" | awk '$3 != "OK" || $4 !~ /^[0-9]+$/ || $4 == 0 { print }')
equals "every kernel OK, with its wave-instructions counted" "" "$bad"
contains "none differs from the host reference" "0 of $n kernels differ from the host reference" "$out"
check "the box keeps running afterwards" "$tb" sim status
