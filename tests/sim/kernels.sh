#!/bin/sh
# Every kernel of tests/kernels, at every size, through libtbhal on the box's
# six GPUs at once (PM4 dispatch, RELEASE_MEM signal, KFD event wait),
# against the host reference.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
"$tb" sim run -- "$TB_BUILD/tests/kernel_diff" --gpu all --build "$TB_BUILD"
