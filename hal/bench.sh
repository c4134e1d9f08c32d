#!/bin/sh
# make bench: tb bench dispatch and tb bench copy on a simulated box of
# their own (started and stopped here).  Never fails on timing.
build=${TB_BUILD:-build}
tb="$build/bin/tb"
state=$(mktemp -d /tmp/tb-bench.XXXXXX)
export TB_SIM_STATE="$state"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
"$tb" sim start >/dev/null || exit 1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "tb bench dispatch (GPU 0 of the simulated box):"
"$tb" sim run -- "$tb" bench dispatch || exit 1
"$tb" sim run -- "$tb" bench dispatch --json || exit 1
echo "tb bench copy (GPU 0 of the simulated box):"
"$tb" sim run -- "$tb" bench copy --mib 256 || exit 1
"$tb" sim run -- "$tb" bench copy --json --mib 256
