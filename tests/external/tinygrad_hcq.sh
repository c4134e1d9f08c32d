#!/bin/sh
# tinygrad's own device test (test/device/test_hcq.py) on a simulated box of
# its own, through tinygrad's unmodified KFD interface.  Not part of make
# test (CI has no tinygrad).  Usage:
#   tests/external/tinygrad_hcq.sh TINYGRAD_DIR [PYTEST_ARGS...]
# TB_BUILD names the build (default: build).  Needs Debian's python3-numpy
# and python3-pytest; tinygrad's conftest wants a newer pytest, so it is
# skipped (--noconftest).  Exit status: pytest's.
set -u
[ $# -ge 1 ] && [ -f "$1/tinygrad/runtime/ops_amd.py" ] || { echo "usage: $0 TINYGRAD_DIR [PYTEST_ARGS...]" >&2; exit 2; }
tg=$(cd "$1" && pwd); shift
tb=$(cd "${TB_BUILD:-build}" && pwd)/bin/tb
state=$(mktemp -d /tmp/tb-tinygrad.XXXXXX)
trap 'TB_SIM_STATE="$state" "$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
TB_SIM_STATE="$state" "$tb" sim start >/dev/null || exit 1
cd "$tg" || exit 1
TB_SIM_STATE="$state" "$tb" sim run -- env DEV=AMD PYTHONPATH="$tg" /usr/bin/python3 -m pytest --noconftest \
  -p no:cacheprovider -q -rA test/device/test_hcq.py "$@"
