#!/bin/sh
# What ships of the fan controller (tb-fand, tb fan, libtbfan) holds no
# simulator code: no symbol of the thermal plant (libtbplant: plant_*) or
# of the benchmark on it (libtbfanbench: fc_plant_io*, fc_bench*), defined
# or wanted; the benchmark is the simulator's own command, tb fanbench.
. "$TB_SRC/tests/tap.sh"
for f in "$TB_BUILD/bin/tb-fand" "$TB_BUILD/libexec/tb/tb-fan" "$TB_BUILD/lib/libtbfan.a"; do
  syms=$(nm "$f" 2>&1) || { not_ok "nm reads ${f##*/}" "$syms"; continue; }
  [ -n "$syms" ] || { not_ok "nm lists ${f##*/}'s symbols"; continue; }
  sim=$(printf '%s\n' "$syms" | grep -E ' (plant_|fc_plant_io|fc_bench)')
  [ -z "$sim" ] && ok "${f##*/} has no simulator symbol" || not_ok "${f##*/} has no simulator symbol" "$(printf '%s\n' "$sim" | head -n 5)"
done
out=$("$TB_BUILD/libexec/tb/tb-fanbench" --help 2>&1)
contains "the benchmark is tb fanbench" "usage: tb fanbench" "$out"
