#!/bin/sh
# The commands that read a file named on their command line refuse what is
# not a small regular file, at once and naming the limit: the plant config
# of `tb sim start --plant` and `tb fanbench --plant`, tb-fand's config and
# calibration, a heat trace.  These used to read /dev/zero until memory ran
# out; each now gets `timeout` as a guard so that a regression fails here
# rather than hanging the run.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
fand="$TB_BUILD/bin/tb-fand"
state=$(mktemp -d /tmp/tb-fan-files.XXXXXX)
export TB_SIM_STATE="$state/box"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:detect_leaks=0"	# libsensors keeps its chip list until exit
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
conf="$TB_SRC/fancontrol/tb-fand.conf"
mkfifo "$state/fifo"

# refused NAME STATUS WANT CMD...: CMD exits with STATUS and says WANT
refused() {
  name=$1 want_rc=$2 want=$3; shift 3
  out=$(timeout 60 "$@" 2>&1); rc=$?
  if [ $rc = "$want_rc" ]; then contains "$name" "$want" "$out"; else not_ok "$name" "status $rc (want $want_rc): $out"; fi
}
for f in /dev/zero "$state/fifo" "$state"; do
  case $f in /dev/zero) what=/dev/zero ;; *fifo) what="a FIFO" ;; *) what="a directory" ;; esac
  refused "tb sim start --plant $what is refused" 1 "$f:0: not a regular file" "$tb" sim start --plant "$f"
  refused "tb-fand --check --config $what is refused" 2 "$f:0: not a regular file" "$fand" --check --config "$f"
  refused "tb-fand --calibration $what is refused" 2 "$f:0: not a regular file" "$fand" --check --config "$conf" --calibration "$f"
  refused "tb fanbench --plant $what is refused" 1 "$f:0: not a regular file" "$tb" fanbench --plant "$f"
  refused "tb fanbench --trace $what is refused" 1 "$f:0: not a regular file" "$tb" fanbench --trace "$f"
done
