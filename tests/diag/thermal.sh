#!/usr/bin/env bash
# tb diag's sensor watch on a simulated box of its own whose thermal plant
# runs ten times faster than real time: a GPU whose cooling fails (its
# temperature rising to its limit), a stalled fan while the curve demands
# it turn, a frozen sensor under load and a sensor lost in the middle of a
# run are each caught by the "thermal" test and named with the GPU, the
# status, the reason and the exit code; a healthy GPU beside them passes.
# Level 3's power test at the cap (GEMMs for its share of --duration) fails
# the runaway and the stalled fan too, and passes a healthy GPU whose fan
# answers its curve.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
box_state=$(mktemp -d /tmp/tb-test-box.XXXXXX)
diag_state=$(mktemp -d /tmp/tb-test-diag.XXXXXX)
export TB_SIM_STATE="$box_state" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state" "$diag_state"' EXIT
out=$("$tb" sim start --speed 10 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ok "the box starts (its plant ten times faster than real time)"

diag() { "$tb" sim run -- "$tb" diag --state "$diag_state" "$@"; }
# thermal FILE GPU: "STATUS REASON ACTION" of the GPU's thermal result
thermal() {
  python3 - "$@" <<'PY'
import json, sys
hits = [r for r in json.load(open(sys.argv[1]))["results"] if r["gpu"] == int(sys.argv[2]) and r["test"] == "thermal"]
print(" ".join((hits[0]["status"], hits[0]["reason"], hits[0]["action"], hits[0]["evidence"].get("during_test", "-"))) if len(hits) == 1 else "%d results" % len(hits))
PY
}
# power FILE GPU: "STATUS REASON ACTION" of the GPU's power result
power() { python3 -c 'import json, sys; r = [r for r in json.load(open(sys.argv[1]))["results"] if r["gpu"] == int(sys.argv[2]) and r["test"] == "power"]; print(" ".join((r[0]["status"], r[0]["reason"], r[0]["action"])) if len(r) == 1 else "%d results" % len(r))' "$@"; }
# hwmon GPU FILE: one of the GPU's hwmon files, as the box publishes it
hwmon() { "$tb" sim run -- sh -c "cat /sys/class/drm/card$1/device/hwmon/hwmon*/$2" 2>/dev/null; }
# until GPU's junction reads at least MILLIDEGREES (bounded: 60 s)
until_hot() { for _ in $(seq 600); do [ "$(hwmon "$1" temp2_input)" -ge "$2" ] 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- thermal runaway: the cooling lost, the junction rising to its 110 C limit --------------------
"$tb" sim fault 0 thermal-runaway >/dev/null
until_hot 0 104000 || not_ok "GPU 0 heats up once its cooling is gone"
diag -l long -g 0,3 -t power,thermal --duration 3 --quiet --json "$diag_state/runaway.json"; rc=$?
equals "a temperature rising to its limit: thermal FAIL THERMAL_RUNAWAY on GPU 0, replace the hardware, exit 1" \
  "FAIL THERMAL_RUNAWAY REPLACE_HW 1" "$(thermal "$diag_state/runaway.json" 0 | cut -d' ' -f1-3) $rc"
equals "GPU 3 beside it passes" "PASS OK NONE -" "$(thermal "$diag_state/runaway.json" 3)"
equals "the power test at the cap: GPU 0 throttled at its limit, or its fan not answering (its cooling gone), replace the hardware" \
  "FAIL REPLACE_HW" "$(power "$diag_state/runaway.json" 0 | sed -E 's/ (THERMAL_THROTTLED|FAN_NOT_ANSWERING) / /')"
"$tb" sim fault clear >/dev/null

# ---- a fan stalled while the curve asks it to turn --------------------------------------------
# heated first (its cooling lost), then its cooling back but the fan stopped:
# at 70 C the firmware's curve asks for over a third of full duty
"$tb" sim fault 4 thermal-runaway >/dev/null
until_hot 4 90000 || not_ok "GPU 4 heats up"
"$tb" sim fault clear 4 >/dev/null
"$tb" sim fault 4 fan-stall >/dev/null
diag -l long -g 4 -t power,thermal --duration 3 --quiet --json "$diag_state/fan.json"; rc=$?
equals "a fan at 0 rpm while its duty demands it turn: thermal FAIL FAN_STALLED on GPU 4, exit 1" \
  "FAIL FAN_STALLED REPLACE_HW 1" "$(thermal "$diag_state/fan.json" 4 | cut -d' ' -f1-3) $rc"
equals "the power test: the curve asks for the fan under load and it does not turn: FAIL FAN_NOT_ANSWERING" \
  "FAIL FAN_NOT_ANSWERING REPLACE_HW" "$(power "$diag_state/fan.json" 4)"
"$tb" sim fault clear >/dev/null

# ---- a sensor frozen at its last reading, under load -----------------------------------------
"$tb" sim fault 2 sensor-freeze >/dev/null
# the load: GEMMs back to back for 8 s, the GPUs busy all along
diag -l long -g 2,3 -t gemm_long,power,thermal --duration 8 --quiet --json "$diag_state/frozen.json"; rc=$?
equals "temperatures that never move while the power does: thermal FAIL SENSOR_FROZEN on GPU 2 during the GEMMs, exit 2" \
  "FAIL SENSOR_FROZEN UPDATE_FW_DRIVER gemm_long 2" "$(thermal "$diag_state/frozen.json" 2) $rc"
equals "GPU 3's sensors, under the same load, move and pass" "PASS OK NONE -" "$(thermal "$diag_state/frozen.json" 3)"
equals "GPU 3 at the cap: power PASS, its median within 5% of power1_cap, under its junction limit, never throttled, its fan speeding up" \
  "PASS OK NONE True True True True" "$(power "$diag_state/frozen.json" 3) $(python3 -c '
import json, sys
r = [r for r in json.load(open(sys.argv[1]))["results"] if r["gpu"] == 3 and r["test"] == "power"][0]
m = {x["name"]: x for x in r["measurements"]}
print(m["power_median"]["value"] <= m["power_median"]["threshold"] == 1.05 * m["power_cap"]["value"] and m["power_median"]["unit"] == "W",
      m["junction_max"]["value"] < m["junction_limit"]["value"], m["throttled"]["value"] == 0 and m["throttled"]["threshold"] == 0.05,
      m["fan_rpm_peak"]["value"] > m["fan_rpm_start"]["value"])' "$diag_state/frozen.json")"
"$tb" sim fault clear >/dev/null

# ---- a sensor lost: before the run (level 0) and in its middle (the watch) ------------------------
"$tb" sim fault 5 sensor-loss >/dev/null
diag -g 5 -t sensors --quiet --json "$diag_state/lost0.json"; rc=$?
equals "a junction sensor gone before the run: sensors FAIL SENSOR_MISSING, exit 2" "FAIL SENSOR_MISSING 2" \
  "$(python3 -c 'import json,sys; r=[r for r in json.load(open(sys.argv[1]))["results"] if r["test"] == "sensors"][0]; print(r["status"], r["reason"])' "$diag_state/lost0.json") $rc"
"$tb" sim fault clear >/dev/null
"$tb" sim run -- "$tb" diag --state "$diag_state" -g 5 -t copy,thermal --json-stream --json "$diag_state/lost.json" \
  >"$diag_state/lost.stream" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '"ev":"begin"' "$diag_state/lost.stream" && break; sleep 0.1; done
"$tb" sim fault 5 sensor-loss >/dev/null
wait "$pid"; rc=$?
equals "a junction sensor lost in the middle of the run: thermal FAIL SENSOR_LOST on GPU 5, exit 2" \
  "FAIL SENSOR_LOST UPDATE_FW_DRIVER 2" "$(thermal "$diag_state/lost.json" 5 | cut -d' ' -f1-3) $rc"
check "the report is valid against diag/schema.json" python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' "$diag_state/runaway.json" "$TB_SRC/diag/schema.json"
check "the box stops" "$tb" sim stop
