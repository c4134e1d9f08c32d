#!/bin/sh
# Every kernel of tests/kernels, at every size, on the box's six GPUs through
# the driver's PM4 queues (dispatch, RELEASE_MEM signal, KFD event wait),
# against the host reference.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
state=$(mktemp -d /tmp/tb-kernels-test.XXXXXX)
export TB_SIM_STATE="$state"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
  "$tb" sim run -- "$TB_BUILD/tests/kernel_diff" --gpu all --build "$TB_BUILD"
