#!/bin/sh
# make run: the project's main job on its default box, the simulated one.
# Boots the simulated box (or uses the one already running), shows it the
# way the stock tools see it (lspci, sensors, tb sim status), then runs
# every kernel of tests/kernels on its six GPUs at once through libtbhal
# (PM4 user-mode queues), each checked against the host reference, as a table.  The box
# keeps running afterwards for `tb sim run -- ...`; `tb sim stop` ends it.
# Exits non-zero when any kernel differs from the reference.
set -u
build=${1:-build}
tb="$build/bin/tb"
if ! "$tb" sim status >/dev/null 2>&1; then
  "$tb" sim start || exit 1
fi
echo
echo "== the GPUs, as lspci sees them"
"$tb" sim run -- lspci -nn -d 1002:744c
echo
echo "== their sensors, as sensors(1) sees them (GPU 0)"
"$tb" sim run -- sensors amdgpu-pci-0300
echo "== every kernel of tests/kernels on the six GPUs at once (libtbhal, PM4 user-mode queues)"
"$tb" sim run -- "$build/tests/kernel_diff" --table --gpu all --build "$build"
rc=$?
echo
"$tb" sim status
echo
echo "The box keeps running: 'build/bin/tb sim run -- CMD' runs any program on it, 'build/bin/tb sim stop' stops it."
exit $rc
