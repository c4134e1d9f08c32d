#!/bin/sh
# libtbinfer's GPU kernels on the simulated box, each against a host
# computation (tests/infer/kern/test_kernels.c).
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
tap_run "" "$tb" sim run -- "$TB_BUILD/tests/test_infer_kernels" "$TB_BUILD/share/tb/infer.co"
