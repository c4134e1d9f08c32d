#!/usr/bin/env bash
# What the kernel tells a diagnostic about a GPU's troubles, on a box of
# its own (the thermal plant at 100 times real time, so that a GPU that
# lost its cooling reaches its limit within seconds): SMI events, the
# VRAM-lost counter, MES that stops answering, a silent hang.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
out=$("$tb" sim start --speed 100 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ok "the box starts"
# events_test's own checks
tap_run "" "$tb" sim run -- "$TB_BUILD/tests/events_test" "$tb"

# AER counts on every hop of a GPU's path, root port to GPU.
# hops GPU FILE FIELD: the field of FILE at the root port, the switch's
# upstream and downstream ports and the GPU, as "R U D G"
hops() {
  "$tb" sim run -- sh -c 'd=$(readlink -f /sys/class/drm/card$1/device); r=""
    for p in "$(dirname "$(dirname "$(dirname "$d")")")" "$(dirname "$(dirname "$d")")" "$(dirname "$d")" "$d"; do
      r="$r $(sed -n "s/^$3 //p" "$p/$2")"; done; echo $r' sh "$@"
}
# until GPU's FILE FIELD reads WANT (the box rewrites them within a second)
settle() {
  for _ in $(seq 100); do [ "$(hops "$1" "$2" "$3")" = "$4" ] && return 0; sleep 0.1; done
  return 1
}
check "every hop starts with no AER errors" settle 2 aer_dev_correctable TOTAL_ERR_COR "0 0 0 0"
"$tb" sim fault 2 aer-ce 5 upstream >/dev/null
settle 2 aer_dev_correctable BadTLP "0 5 0 0" && ok "aer-ce counts bad TLPs at the hop it names" ||
  not_ok "aer-ce counts bad TLPs at the hop it names" "$(hops 2 aer_dev_correctable BadTLP)"
check_fails "aer-ce at a hop that is not there is refused" "$tb" sim fault 2 aer-ce 5 riser
"$tb" sim fault 3 link 8 8 >/dev/null
settle 3 aer_dev_correctable RxErr "0 0 16 16" && ok "a link that retrained counts receiver errors at both its ends" ||
  not_ok "a link that retrained counts receiver errors at both its ends" "$(hops 3 aer_dev_correctable RxErr)"
"$tb" sim fault 4 fall-off-bus >/dev/null
settle 4 aer_dev_nonfatal SDES "0 0 1 0" && settle 4 aer_dev_nonfatal CmpltTO "1 0 0 0" &&
  ok "a GPU off the bus: surprise down at the port above it, completion timeout at the root port" ||
  not_ok "a GPU off the bus: surprise down above it, completion timeout at the root port" \
    "SDES $(hops 4 aer_dev_nonfatal SDES), CmpltTO $(hops 4 aer_dev_nonfatal CmpltTO)"
check "the box stops" "$tb" sim stop
