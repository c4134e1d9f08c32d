#!/bin/sh
# Every kernel of tests/kernels, at every size, on the box's six GPUs through
# the driver's PM4 queues (dispatch, RELEASE_MEM signal, KFD event wait),
# against the host reference.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
"$tb" sim run -- "$TB_BUILD/tests/kernel_diff" --gpu all --build "$TB_BUILD"
