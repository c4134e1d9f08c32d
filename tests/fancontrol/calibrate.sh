#!/bin/sh
# tb fan calibrate on the simulated box (its plant 50 times faster than real
# time): it measures the chassis and GPU fan groups, writes the calibration
# file tb-fand reads, stops before a zone nears its limit, and tb-fand
# refuses a bad calibration file with FILE:LINE.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
state=$(mktemp -d /tmp/tb-calibrate-test.XXXXXX)
export TB_SIM_STATE="$state"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:detect_leaks=0"	# libsensors keeps its chip list until exit
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state" "$state.d"' EXIT
mkdir -p "$state.d"
conf="$TB_SRC/fancontrol/tb-fand.conf"
cal="$state.d/calibration.conf"
out=$("$tb" sim start --speed 50 2>&1) || { not_ok "the box starts" "$out"; exit 1; }

out=$("$tb" sim run -- "$tb" fan calibrate --config "$conf" --output "$cal" --settle 0.15 --json 2>&1); rc=$?
[ $rc -eq 0 ] && ok "tb fan calibrate measures every fan group" || not_ok "tb fan calibrate" "status $rc: $out"
ok_fans=$(printf '%s' "$out" | python3 -c 'import json,sys; print(sum(f["ok"] for f in json.load(sys.stdin)["fans"]))' 2>&1)
[ "$ok_fans" = 7 ] && ok "seven groups measured (chassis and six GPUs)" || not_ok "seven groups measured" "$ok_fans: $out"
# the plant's chassis fans start at pwm 64 and stop below 40 (sim/plant/appliance.conf);
# steps of 16 find them to within a step
start=$(sed -n '/^\[fan chassis\]/,/^$/s/^start_pwm = //p' "$cal")
stop=$(sed -n '/^\[fan chassis\]/,/^$/s/^stop_pwm = //p' "$cal")
[ -n "$start" ] && [ "$start" -ge 48 ] && [ "$start" -le 80 ] && [ "$stop" -ge 30 ] && [ "$stop" -le 64 ] && [ "$stop" -le "$start" ] &&
  ok "the chassis fans' start ($start) and stop ($stop) duties match the plant" || not_ok "chassis start/stop" "start $start stop $stop"
out=$("$tb" sim run -- "$TB_BUILD/bin/tb-fand" --check --config "$conf" --calibration "$cal" 2>&1)
[ $? -eq 0 ] && ok "tb-fand takes the calibration with its config" || not_ok "tb-fand takes the calibration" "$out"

# without --config: /etc/tb-fand.conf where there is one, else the shipped config, as its help says
[ -e /etc/tb-fand.conf ] && want="/etc/tb-fand.conf" || want="the shipped config"
out=$("$tb" sim run -- "$tb" fan calibrate --output "$state.d/default.cal" --settle 0.15 --step 64 --json 2>&1); rc=$?
n=$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["fans"]))' 2>&1)
[ $rc -eq 0 ] && [ "$n" = 7 ] && ok "tb fan calibrate without --config takes $want" || not_ok "calibrate's default config" "status $rc: $out"

printf '[fan chassis]\nstart_pwm = 64\n[fan blower]\nstop_pwm = 3\n' >"$state.d/bad.conf"
out=$("$TB_BUILD/bin/tb-fand" --check --config "$conf" --calibration "$state.d/bad.conf" 2>&1); rc=$?
[ $rc -eq 2 ] && ok "a calibration naming a fan the config lacks is refused" || not_ok "unknown fan refused" "status $rc"
contains "with file and line" "bad.conf:3: the config has no fan 'blower'" "$out"
printf '[fan chassis]\nstop_pwm = 300\n' >"$state.d/bad2.conf"
contains "an out-of-range duty is refused" "bad2.conf:2: stop_pwm must be a number from 0 to 255" \
  "$("$TB_BUILD/bin/tb-fand" --check --config "$conf" --calibration "$state.d/bad2.conf" 2>&1)"
printf '[fan chassis]\nstart_pwm = 10\nstop_pwm = 50\n' >"$state.d/bad3.conf"
contains "a stop duty above the start duty is refused" "stop_pwm above start_pwm" \
  "$("$TB_BUILD/bin/tb-fand" --check --config "$conf" --calibration "$state.d/bad3.conf" 2>&1)"

# a CPU limit just above the CPU's temperature: slowing the chassis fans would
# pass it, so their measurement stops and they go back to full speed
tctl=$("$tb" sim run -- sh -c 'for d in /sys/class/hwmon/hwmon*; do [ "$(cat $d/name)" = k10temp ] && cat $d/temp1_input; done')
limit=$(( tctl / 1000 + 10 ))	# full speed keeps it 2.5 C under the stop line; slowing the fans does not
sed "/^\[zone cpu\]/,/^\[/s/^limit_c = .*/limit_c = $limit/" "$conf" >"$state.d/tight.conf"
out=$("$tb" sim run -- "$tb" fan calibrate --config "$state.d/tight.conf" --output "$state.d/tight.cal" --settle 0.3 2>&1); rc=$?
[ $rc -eq 1 ] && ok "calibration stops short of a zone's limit (CPU limit $limit C)" || not_ok "calibration stops at a limit" "status $rc: $out"
contains "and says which zone" "zone cpu at" "$(cat "$state.d/tight.cal")"
pwm=$("$tb" sim run -- sh -c 'for d in /sys/class/hwmon/hwmon*; do [ "$(cat $d/name)" = nct6798 ] && cat $d/pwm1_enable; done')
[ "$pwm" = 5 ] && ok "the fans are back under firmware control afterwards" || not_ok "fans released" "pwm1_enable $pwm"
