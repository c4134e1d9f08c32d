#!/bin/sh
# make run: the project's main job on its default box, the simulated one.
# Until the simulated box runs dispatches end to end, that job is every
# kernel of tests/kernels on the gfx1100 emulator, checked against the host
# reference, as a table (kernel, grid/block, OK/FAIL, wave-instructions,
# time).  Exits non-zero when any kernel differs from the reference.
set -u
build=${1:-build}
exec "$build/tests/kernel_diff" --table --build "$build"
