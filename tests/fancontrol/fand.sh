#!/bin/sh
# tb-fand, unmodified, on the simulated box: it takes the fans (nct6798 in
# manual mode, a flat amdgpu fan_curve), a stalled fan and a missing sensor
# put the affected fans at full duty (within 1 s of plant time: test_fan
# asserts the bound; here the box is only polled), a bad config is refused at
# start and on reload, a second instance is refused while one runs,
# `tb fan status` tells a dead or hung daemon from a running one, and
# SIGTERM, or SIGKILL followed by the unit's ExecStopPost command, give the
# fans back to firmware control.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
fand="$TB_BUILD/bin/tb-fand"
state=$(mktemp -d /tmp/tb-fand-test.XXXXXX)
export TB_SIM_STATE="$state"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
# libsensors keeps its chip list until exit: not our leak
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:detect_leaks=0"
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; "$tb" sim stop >/dev/null 2>&1; rm -rf "$state" "$state.d"' EXIT
mkdir -p "$state.d"
box() { "$tb" sim run -- "$@"; }
conf="$TB_SRC/fancontrol/tb-fand.conf"
gpu=/sys/class/drm/card1/device
fan="$TB_BUILD/libexec/tb/tb-fan"

out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
sio=$(box sh -c 'for d in /sys/class/hwmon/hwmon*; do [ "$(cat $d/name)" = nct6798 ] && echo $d; done')
# what firmware has before tb-fand takes the fans: every chassis channel's
# mode and every GPU's curve, to compare with what a release gives back
fans_state() {
  box sh -c 'for i in 1 2 3 4 5 6 7 8; do echo "pwm${i}_enable $(cat '"$sio"'/pwm${i}_enable)"; done
             for c in /sys/class/drm/card[0-9]*/device/gpu_od/fan_ctrl/fan_curve; do echo "$c"; cat "$c"; done'
}
firmware=$(fans_state)
[ "$(printf '%s\n' "$firmware" | grep -c 'pwm[1-8]_enable 5$')" = 8 ] && [ "$(printf '%s\n' "$firmware" | grep -c fan_curve)" = 6 ] &&
  ok "firmware's fan state read: 8 chassis channels in SmartFan, 6 GPU curves" || not_ok "firmware fan state" "$firmware"

start() { # CONFIG LOG
  "$tb" sim run -- "$fand" --config "$1" --status-dir "$state.d" >"$2" 2>&1 &
  pid=$!
}
# wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds
wait_for() {
  n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
sio_is() { [ "$(box cat "$sio/$1")" = "$2" ]; }
curve_has() { box cat "$gpu/gpu_od/fan_ctrl/fan_curve" | grep -q "$1"; }

# config errors
printf '[daemon]\ninterval_s = 9\n' >"$state.d/bad.conf"
out=$("$fand" --check --config "$state.d/bad.conf" 2>&1); rc=$?
[ $rc = 2 ] && ok "a bad config is refused at start (status 2)" || not_ok "a bad config is refused" "status $rc"
contains "the refusal names file and line" "bad.conf:2: interval_s = 9 is out of range" "$out"
check "the shipped config passes --check" "$fand" --check --config "$conf"

start "$conf" "$state.d/log"
wait_for 5 sio_is pwm1_enable 1 && ok "tb-fand puts the chassis fans in manual mode" || not_ok "chassis manual" "$(cat $state.d/log)"
wait_for 5 curve_has "4: 90C" && ok "tb-fand commits a flat GPU fan curve" || not_ok "GPU curve" "$(box cat $gpu/gpu_od/fan_ctrl/fan_curve)"
wait_for 5 sio_is pwm1 40 && ok "idle: chassis fans at their stop duty" ||
  not_ok "idle chassis duty" "pwm1 $(box cat $sio/pwm1); $(tail -n 8 "$state.d/log")"
out=$("$fan" status --status-dir "$state.d" 2>&1); rc=$?
[ $rc = 0 ] && ok "tb fan status of a running tb-fand exits 0" || not_ok "tb fan status exits 0" "status $rc: $out"
contains "tb fan status shows the zones" "gpu5-junction" "$out"
contains "tb fan status shows the dBA estimate" "dBA at 1 m" "$out"
out=$("$fan" status --json --status-dir "$state.d" 2>&1); rc=$?
check "tb fan status --json is JSON, the daemon running" python3 -c 'import json,sys; d=json.loads(sys.argv[1])
assert len(d["zones"]) == 17 and d["daemon"]["running"] and d["daemon"]["problem"] is None and sys.argv[2] == "0"' "$out" $rc

# one instance at a time: a second one is refused and touches no fan
holder=$(cat "$state.d/tb-fand.lock")
[ "$(cat /proc/$holder/comm 2>/dev/null)" = tb-fand ] && ok "the lock holds the running tb-fand's pid" || not_ok "lock pid" "$holder"
out=$(box "$fand" --config "$conf" --status-dir "$state.d" 2>&1); rc=$?
[ $rc = 1 ] && ok "a second tb-fand is refused" || not_ok "a second tb-fand is refused" "status $rc: $out"
contains "the refusal names the running one" "another tb-fand (pid $holder) holds $state.d/tb-fand.lock" "$out"
kill -0 $pid 2>/dev/null && sio_is pwm1_enable 1 && ok "the first keeps controlling" || not_ok "first instance" "$(box cat $sio/pwm1_enable)"

# a hung daemon: alive, holding its lock, its status older than 10 periods
kill -STOP $pid
touch -d '-60 seconds' "$state.d/status.json"
out=$("$fan" status --status-dir "$state.d" 2>&1); rc=$?
[ $rc = 1 ] && ok "tb fan status of a hung tb-fand exits 1" || not_ok "hung status exit" "status $rc: $out"
contains "and says it is hung" "has not updated its status for" "$out"
out=$("$fan" status --json --status-dir "$state.d" 2>/dev/null); rc=$?
check "tb fan status --json of a hung tb-fand: status 1, the status only as last_status" python3 -c 'import json,sys
d=json.loads(sys.argv[1]); assert sys.argv[2] == "1" and "zones" not in d and len(d["last_status"]["zones"]) == 17
assert d["daemon"]["running"] and "hung" in d["daemon"]["problem"]' "$out" $rc
kill -CONT $pid

# a stalled GPU fan: its curve and the chassis fans to 100%
"$tb" sim fault 1 fan-stall >/dev/null
wait_for 10 sio_is pwm1 255 && ok "a stalled GPU fan: chassis fans at full duty" || not_ok "stall -> chassis 255" "$(box cat $sio/pwm1)"
wait_for 10 curve_has "0: 30C 100%" && ok "a stalled GPU fan: its curve at 100%" || not_ok "stall -> curve" "$(box cat $gpu/gpu_od/fan_ctrl/fan_curve)"
contains "the stall is logged" "fan gpu1: stalled" "$(cat $state.d/log)"
"$tb" sim fault clear >/dev/null
sio_below() { [ "$(box cat "$sio/$1")" -lt "$2" ]; }
wait_for 10 sio_below pwm1 200 && ok "after the stall ends the fans come back down (slowly)" || not_ok "recovery" "$(box cat $sio/pwm1)"

# a reload with a good config is taken
kill -HUP $pid
logged() { grep -q "$2" "$1"; }
wait_for 10 logged "$state.d/log" "reloaded" && kill -0 $pid && ok "a reload (good config) is taken and it keeps running" ||
  not_ok "reload" "$(tail -n 3 "$state.d/log")"
kill -TERM $pid; wait $pid
wait_for 3 sio_is pwm1_enable 5 && ok "SIGTERM: chassis fans back to SmartFan (pwm_enable 5)" || not_ok "SIGTERM nct" "$(box cat $sio/pwm1_enable)"
curve_has "0: 45C 15%" && ok "SIGTERM: GPU fan curve reset to firmware's" || not_ok "SIGTERM curve" "$(box cat $gpu/gpu_od/fan_ctrl/fan_curve)"

# a config pointing at a sensor that is not there: its fans fail safe
sed 's#nvme-pci-c400/Composite#nvme-pci-c900/Composite#' "$conf" >"$state.d/missing.conf"
start "$state.d/missing.conf" "$state.d/log2"
wait_for 5 sio_is pwm1 255 && ok "a missing sensor: its zone's fans at full duty" || not_ok "missing sensor" "$(cat $state.d/log2)"
contains "the missing sensor is logged" "nvme-pci-c900/Composite: no such chip" "$(cat $state.d/log2)"
# SIGHUP with a bad config: refused, the daemon keeps controlling
cp "$state.d/bad.conf" "$state.d/missing.conf"
kill -HUP $pid
wait_for 10 logged "$state.d/log2" "reload refused" && ok "the bad reload is refused and logged" || not_ok "bad reload logged" "$(tail -n 3 "$state.d/log2")"
kill -0 $pid 2>/dev/null && ok "a reload with a bad config keeps the daemon running" || not_ok "bad reload"
sio_is pwm1_enable 1 && ok "after a bad reload the fans stay under control" || not_ok "bad reload control"

# SIGKILL: nothing in-process runs; the unit's ExecStopPost command does.
kill -9 $pid; wait $pid 2>/dev/null; pid=
sio_is pwm1_enable 1 && ok "SIGKILL leaves the fans in manual mode" || not_ok "after SIGKILL" "$(box cat $sio/pwm1_enable)"
out=$("$fan" status --status-dir "$state.d" 2>&1); rc=$?
[ $rc = 1 ] && ok "tb fan status of a killed tb-fand exits 1" || not_ok "dead status exit" "status $rc: $out"
contains "and says it is not running" "is not running: it exited or was killed" "$out"
out=$("$fan" status --json --status-dir "$state.d" 2>/dev/null); rc=$?
check "tb fan status --json of a killed tb-fand: status 1, running false" python3 -c 'import json,sys
d=json.loads(sys.argv[1]); assert sys.argv[2] == "1" and "zones" not in d and not d["daemon"]["running"]' "$out" $rc

# The unit's ExecStopPost line, word for word, run where the unit's paths
# hold tb-fand and its config (overlays on their directories in the box's
# private mount namespace).
unit="$TB_SRC/fancontrol/tb-fand.service"
stoppost=$(sed -n 's/^ExecStopPost=//p' "$unit")
prog=${stoppost%% *}
unit_conf=$(sed -n 's/^ConditionPathExists=//p' "$unit")
case $stoppost in *" --release"*"--config $unit_conf"*) ok "the unit's ExecStopPost releases with the unit's config" ;;
  *) not_ok "ExecStopPost is --release --config $unit_conf" "$stoppost" ;; esac
mkdir -p "$state.d/inst"
box sh -c 'set -e; t=$1; shift
  mount -t tmpfs tmpfs "$t"
  for f in "$1" "$2"; do d=${f%/*}; mkdir -p "$t$d/u" "$t$d/w"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$t$d/u,workdir=$t$d/w" "$d"; done
  cp "$3" "$1"; cp "$4" "$2"; set +e; eval "$5"' sh "$state.d/inst" "$prog" "$unit_conf" "$fand" "$conf" "$stoppost" \
  >"$state.d/stoppost.log" 2>&1; rc=$?
[ $rc = 0 ] && ok "ExecStopPost after SIGKILL succeeds" || not_ok "ExecStopPost" "status $rc: $(cat "$state.d/stoppost.log")"
after=$(fans_state)
[ "$after" = "$firmware" ] && ok "ExecStopPost hands every fan back: pwm_enable automatic, GPU curves reset" ||
  not_ok "fans handed back" "$(printf '%s\n' "$firmware" >"$state.d/a"; printf '%s\n' "$after" | diff "$state.d/a" - | head -n 10)"
sio_is pwm1_enable 5 && ok "the chassis fans are in SmartFan mode (pwm_enable 5)" || not_ok "--release nct" "$(box cat $sio/pwm1_enable)"

# the killed instance's lock file stays, but its lock died with it
[ -s "$state.d/tb-fand.lock" ] && ok "the killed tb-fand left its lock file" || not_ok "lock file left"
start "$conf" "$state.d/log3"
wait_for 5 sio_is pwm1_enable 1 && ok "a new tb-fand starts over a dead one's lock" || not_ok "restart after SIGKILL" "$(cat $state.d/log3)"
kill -TERM $pid; wait $pid; pid=
