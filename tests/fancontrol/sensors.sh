#!/bin/sh
# tb-fand against sensors that fail while it runs, on the simulated box: a
# GPU's junction sensor that disappears, and one that freezes while its GPU
# works.  Each time the affected fans go to full duty, and it is logged.
# (How fast, in plant time, is test_fan's to assert; here the box is polled.)
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
fand="$TB_BUILD/bin/tb-fand"
state=$(mktemp -d /tmp/tb-fand-sensors.XXXXXX)
export TB_SIM_STATE="$state"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:detect_leaks=0"	# libsensors keeps its chip list until exit
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; "$tb" sim stop >/dev/null 2>&1; rm -rf "$state" "$state.d"' EXIT
mkdir -p "$state.d"
box() { "$tb" sim run -- "$@"; }
wait_for() {
  n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
curve_full() { box cat "/sys/class/drm/card$1/device/gpu_od/fan_ctrl/fan_curve" | grep -q "0: 30C 100%"; }
# a frozen sensor is one that has not moved for stale_s while its GPU's power did
sed 's/^stale_s = .*/stale_s = 2/' "$TB_SRC/fancontrol/tb-fand.conf" >"$state.d/tb-fand.conf"
grep -q '^stale_s = 2$' "$state.d/tb-fand.conf" || not_ok "a test config with stale_s = 2"

out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
"$tb" sim run -- "$fand" --config "$state.d/tb-fand.conf" --status-dir "$state.d" >"$state.d/log" 2>&1 &
pid=$!
wait_for 5 box sh -c 'grep -q "4: 90C" /sys/class/drm/card2/device/gpu_od/fan_ctrl/fan_curve' || \
  not_ok "tb-fand takes the GPU fans" "$(cat "$state.d/log")"

"$tb" sim fault 2 sensor-loss >/dev/null
wait_for 10 curve_full 2 && ok "a GPU's junction sensor gone: its fan curve at 100%" || \
  not_ok "sensor loss -> failsafe" "$(tail -n 5 "$state.d/log")"
contains "the loss is logged" "junction" "$(cat "$state.d/log")"

"$tb" sim fault 4 sensor-freeze >/dev/null
"$tb" sim run -- "$TB_BUILD/tests/box_test" "$TB_BUILD/gpu/tests/sim/box_kernels.co" load 4 8 >/dev/null 2>&1 &
loadpid=$!
wait_for 12 curve_full 4 && ok "a frozen GPU sensor under load: its fan curve at 100%" || \
  not_ok "sensor freeze -> failsafe" "$(tail -n 5 "$state.d/log")"
wait $loadpid
contains "the frozen sensor is logged as stale" "stale" "$(cat "$state.d/log")"
kill -TERM $pid; wait $pid; pid=
