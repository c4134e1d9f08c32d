#!/usr/bin/env bash
# tb diag on a simulated box of its own: a healthy box passes; each fault
# it must catch is caught and named with its GPU, test, status and reason;
# a hang is called within 2 s of its deadline and quarantines only its GPU;
# a run killed in the middle of a step is named by the next; bad input is
# exit 4.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
. "$TB_SRC/tests/diag/flip.inc.sh"
diag_state=$(mktemp -d /tmp/tb-test-diag.XXXXXX)
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state" "$diag_state"' EXIT
start_box
ok "the box starts"

# diag ARGS...: tb diag on the box with this test's state directory
diag() { "$tb" sim run -- "$tb" diag --state "$diag_state" "$@"; }
# verdict FILE GPU TEST: "STATUS REASON" of one result in a report
verdict() {
  python3 - "$@" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
hits = [r for r in rep["results"] if r["gpu"] == int(sys.argv[2]) and r["test"] == sys.argv[3]]
print(" ".join((hits[0]["status"], hits[0]["reason"])) if len(hits) == 1 else "%d results" % len(hits))
PY
}
# field FILE GPU TEST PYEXPR: a value of one result (r is the result)
field() {
  python3 - "$@" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
r = [r for r in rep["results"] if r["gpu"] == int(sys.argv[2]) and r["test"] == sys.argv[3]][0]
print(eval(sys.argv[4]))
PY
}
# until the box's sysfs shows a fault (it rewrites its files ten times a second)
settle() { for _ in $(seq 100); do [ "$("$tb" sim run -- cat "$1" 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done; return 1; }

# ---- a healthy box -------------------------------------------------------------------
diag -l quick --seed 42 --json "$diag_state/healthy.json" --calibrate "$diag_state/reference.json" >"$diag_state/healthy.out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "the quick level passes on a healthy box (exit 0)" || not_ok "the quick level passes on a healthy box" "exit $rc: $(tail -n 5 "$diag_state/healthy.out")"
summary=$(python3 - "$diag_state/healthy.json" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
st = {}
# perf judges the throughputs against each other: on a box whose GPUs are
# emulated on shared CPUs they vary too much to judge (SKIPPED), never FAIL
perf = set()
for r in rep["results"]:
    if r["test"] == "perf":
        perf.add(r["status"] + " " + r["reason"])
        continue
    st[r["status"]] = st.get(r["status"], 0) + 1
ok_perf = perf <= {"PASS OK", "SKIPPED PERF_TOO_NOISY"}
print(len(rep["run"]["gpus"]), len(rep["results"]), " ".join("%s=%d" % kv for kv in sorted(st.items())), ok_perf, rep["run"]["seed"])
PY
)
equals "six GPUs, eleven tests each, every one PASS (perf: PASS or too noisy to judge), the seed recorded" "6 66 PASS=60 True 42" "$summary"
ref=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["schema"], sorted(r["measurements"]), all(m["median"] > 0 and m["unit"] == "GB/s" and m["gpus"] == 6 for m in r["measurements"].values()))' "$diag_state/reference.json" 2>&1)
equals "--calibrate writes the reference: each throughput's median over the six GPUs" \
  "tb.diag.reference/1 ['copy/host_to_vram', 'copy/vram_to_host'] True" "$ref"
check "the report is valid against diag/schema.json" python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' "$diag_state/healthy.json" "$TB_SRC/diag/schema.json"
fw=$(python3 -c '
import json, sys
g = json.load(open(sys.argv[1]))["run"]["gpus"]
print(len(g), sorted(g[0]["firmware"]), g[0]["firmware"]["mec"]["version"])' "$diag_state/healthy.json" 2>&1)
equals "each GPU's loaded firmware versions are in the report (libdrm's AMDGPU_INFO_FW_VERSION)" \
  "6 ['asd', 'me', 'mec', 'pfp', 'rlc', 'sdma', 'smc', 'sos'] 0x00000866" "$fw"
check "the report is kept under the state directory" test -s "$diag_state/last"
contains "a Prometheus textfile of the results" 'tb_diag_test_passed{gpu="3",test="gemm",status="PASS"} 1' "$(cat "$diag_state/tb_diag.prom")"
copy_bw=$(field "$diag_state/healthy.json" 0 copy '[m["value"] for m in r["measurements"] if m["name"] == "host_to_vram"][0] > 0')
equals "the copy test measures its bandwidth" "True" "$copy_bw"

# ---- faults, each on a GPU of its own, in one run ------------------------------------------
"$tb" sim fault 2 hang >/dev/null
"$tb" sim fault 4 sdma-hang >/dev/null
"$tb" sim fault 1 link 8 8 >/dev/null
"$tb" sim fault 1 aer-ce 500 root >/dev/null
"$tb" sim fault 3 ras-ce 5 >/dev/null
settle /sys/class/drm/card1/device/current_link_width 8 || not_ok "the link fault shows in sysfs"
settle_aer() { for _ in $(seq 100); do
  [ "$("$tb" sim run -- sh -c 'sed -n "s/^BadTLP //p" "$(dirname "$(dirname "$(dirname "$(readlink -f /sys/class/drm/card1/device)")")")/aer_dev_correctable"')" = 500 ] && return 0
  sleep 0.1; done; return 1; }
settle_aer || not_ok "the root port's AER count shows in sysfs"
diag -l quick --json "$diag_state/faults.json" >"$diag_state/faults.out" 2>&1
rc=$?
equals "a hang on any GPU makes the run exit 2" 2 "$rc"
equals "GPU 2's hung compute queue: HANG at its first fence" "HANG SUBMISSION_TIMEOUT" "$(verdict "$diag_state/faults.json" 2 queues)"
late=$(field "$diag_state/faults.json" 2 queues 'r["seconds"] <= 2.0 + 2.0')
equals "the hang is called within 2 s of its 2 s deadline" "True" "$late"
equals "GPU 2's remaining tests are NOT_RUN, quarantined" "NOT_RUN GPU_QUARANTINED" "$(verdict "$diag_state/faults.json" 2 copy)"
equals "GPU 4's hung SDMA queue: HANG" "HANG SUBMISSION_TIMEOUT" "$(verdict "$diag_state/faults.json" 4 queues)"
equals "GPU 1's degraded link: pcie FAIL" "FAIL PCIE_LINK_DEGRADED" "$(verdict "$diag_state/faults.json" 1 pcie)"
equals "GPU 1's correctable PCIe errors at its root port: counters FAIL" "FAIL PCIE_CORRECTABLE_ERRORS" "$(verdict "$diag_state/faults.json" 1 counters)"
equals "GPU 3's memory errors: counters FAIL, replace the hardware" "FAIL VRAM_ECC_ERRORS REPLACE_HW" \
  "$(verdict "$diag_state/faults.json" 3 counters) $(field "$diag_state/faults.json" 3 counters 'r["action"]')"
others=$(python3 - "$diag_state/faults.json" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
mine = [r for r in rep["results"] if r["gpu"] in (0, 5) and r["test"] != "perf"]
print(sorted(set(r["status"] for r in mine)), len(mine))
PY
)
equals "GPUs 0 and 5 complete every test and pass" "['PASS'] 20" "$others"
"$tb" sim fault clear >/dev/null

# ---- a silent hang, a GPU off the bus --------------------------------------------------------
"$tb" sim fault 0 silent-hang >/dev/null
diag -g 0 -t queues --json "$diag_state/silent.json" >/dev/null 2>&1
equals "a silent hang (no event, no reset) is still a HANG" "HANG SUBMISSION_TIMEOUT 0" \
  "$(verdict "$diag_state/silent.json" 0 queues) $(field "$diag_state/silent.json" 0 queues 'r["evidence"]["gpu_resets"]')"
"$tb" sim fault 5 fall-off-bus >/dev/null
# until its config space reads all ones
for _ in $(seq 100); do
  [ "$("$tb" sim run -- od -An -tx1 -N2 /sys/class/drm/card5/device/config | tr -d ' ')" = ffff ] && break; sleep 0.1
done
diag -l inventory -g 5 --json "$diag_state/bus.json" >/dev/null 2>&1
equals "a GPU off the bus: pcie FAIL" "FAIL GPU_OFF_BUS" "$(verdict "$diag_state/bus.json" 5 pcie)"
"$tb" sim fault clear >/dev/null

# ---- MES stops answering REMOVE_QUEUE in the queue-cycle loop ----------------------------------
"$tb" sim fault 3 mes-hang 7 >/dev/null
diag -g 3 -l medium -t queue_cycles --iterations 10 --json "$diag_state/mes.json" >/dev/null 2>&1
rc=$?
equals "the MES hang: HANG with the reason and action the kernel log gives" "HANG MES_REMOVE_QUEUE_TIMEOUT UPDATE_FW_DRIVER 2" \
  "$(verdict "$diag_state/mes.json" 3 queue_cycles) $(field "$diag_state/mes.json" 3 queue_cycles 'r["action"]') $rc"
equals "caught at the removal MES did not answer (cycle 4's SDMA queue, the eighth), the kernel log in the evidence" \
  "4 8 True" "$(field "$diag_state/mes.json" 3 queue_cycles 'r["evidence"]["cycle"], r["evidence"]["queue_removals"], any("MES failed to respond to msg=REMOVE_QUEUE" in l for l in r["evidence"]["kernel_log"])' | tr -d '(),')"
"$tb" sim fault clear >/dev/null

# ---- VRAM cells that lose their bits during the retention pause ------------------------------
vram_flip_during retention vram
equals "bits flipped in VRAM during the retention pause: vram FAIL, single-bit errors, replace the hardware, exit 1" \
  "FAIL VRAM_PATTERN_ERRORS single-bit REPLACE_HW 1" \
  "$(verdict "$diag_state/vram.json" 1 vram) $(field "$diag_state/vram.json" 1 vram 'r["evidence"]["class"] + " " + r["action"]') $rc"
equals "the bit histogram puts every error at bit 0" "True" \
  "$(field "$diag_state/vram.json" 1 vram 'r["evidence"]["bit_histogram"][0] > 0 and sum(r["evidence"]["bit_histogram"][1:]) == 0')"
"$tb" sim fault clear >/dev/null

# ---- the crash journal -------------------------------------------------------------------------
# the whole run dies in the middle of a step, as in a kernel panic
setsid "$tb" sim run -- "$tb" diag --state "$diag_state" -g 1 -t fence --iterations 1000000 --json-stream \
  >"$diag_state/stream.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '"step":"round trips"' "$diag_state/stream.out" && break; sleep 0.1; done
kill -KILL -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
report=$(diag report 2>&1); rc=$?
equals "tb diag report after the crash exits 5" 5 "$rc"
contains "it names the step that never finished" "GPU 1 fence, step 'round trips'" "$report"
diag -l inventory -g 0 --quiet >/dev/null 2>&1; rc=$?
equals "the next run exits 5 while the crash is unacknowledged" 5 "$rc"
check "tb diag report --ack acknowledges it" diag report --ack
diag -l inventory -g 0 --quiet >/dev/null 2>&1; rc=$?
equals "after that a healthy run exits 0 again" 0 "$rc"

# ---- the monitor: no GPU work, beside a workload ------------------------------------------------
"$tb" sim run -- "$tb" diag monitor --duration 8 --json >"$diag_state/monitor.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q monitor_started "$diag_state/monitor.out" && break; sleep 0.1; done
"$tb" sim fault 1 ras-ue 1 >/dev/null
"$tb" sim fault 2 aer-ce 3 downstream >/dev/null
wait "$pid"; rc=$?
events=$(python3 - "$diag_state/monitor.out" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    if line.startswith("{"):
        e = json.loads(line)
        seen.add("%d %s" % (e["gpu"], e["event"]))
print(" ".join(sorted(s for s in seen if s.split()[1] in ("gpu_reset", "gpu_reset_done", "vram_lost", "ras_errors", "pcie_errors"))))
PY
)
equals "tb diag monitor reports the reset, the lost VRAM, the memory and the PCIe errors as they happen" \
  "1 gpu_reset 1 gpu_reset_done 1 ras_errors 1 vram_lost 2 pcie_errors" "$events"
equals "and exits 2 after a reset" 2 "$rc"

# ---- bad input ---------------------------------------------------------------------------------
usage_error() {
  out=$("$@" 2>&1); rc=$?
  [ $rc -eq 4 ] && [ -n "$out" ] && ok "$name: exit 4 with a message" || not_ok "$name: exit 4 with a message" "exit $rc: $out"
}
name="an unknown level" usage_error diag -l 9
name="an unknown test" usage_error diag -t nosuchtest
name="a GPU that is not there" usage_error diag -g 9
name="a GPU list that is no list" usage_error diag -g 1x
name="a seed that is no number" usage_error diag --seed 1e9
name="an extra argument" usage_error diag extra
name="a state directory that cannot be written" usage_error "$tb" sim run -- "$tb" diag --state /proc/tb-diag -l 0
printf 'not json' >"$diag_state/runs/corrupt.json"
name="a corrupt report" usage_error diag report corrupt
name="a corrupt reference file" usage_error diag --reference "$diag_state/runs/corrupt.json"
name="a reference file that is not there" usage_error diag --reference "$diag_state/nonexistent.json"
name="a monitor duration that is no number" usage_error "$tb" sim run -- "$tb" diag monitor --duration 5s
# ---- history: a GPU's figures against its own median -------------------------------------------
hist=$(mktemp -d /tmp/tb-test-hist.XXXXXX); mkdir -p "$hist/runs"
python3 - "$diag_state/healthy.json" "$hist/runs" <<'PY'
import copy, json, sys
rep = json.load(open(sys.argv[1]))
for i, scale in enumerate((1.0, 1.02, 0.98, 0.5)):
    r = copy.deepcopy(rep)
    for res in r["results"]:
        for m in res["measurements"]:
            if res["gpu"] == 0 and res["test"] == "copy" and m["name"] == "host_to_vram":
                m["value"] *= scale
    r["run"]["id"] = "20260101T00000%dZ-1" % i
    json.dump(r, open("%s/%s.json" % (sys.argv[2], r["run"]["id"]), "w"))
PY
out=$("$tb" diag history --state "$hist" --json); rc=$?
warned=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["reports"], sorted("%d/%s/%s" % (s["gpu"], s["test"], s["measurement"]) for s in d["series"] if s["warn"]))')
equals "tb diag history: GPU 0's copy at half its own median is the one warning, exit 1" \
  "4 ['0/copy/host_to_vram'] 1" "$warned $rc"
rm "$hist/runs/20260101T000003Z-1.json"
"$tb" diag history --state "$hist" >/dev/null; rc=$?
equals "without that run, no warning and exit 0" 0 "$rc"
printf 'not json' >"$hist/runs/20260101T000004Z-1.json"
"$tb" diag history --state "$hist" >/dev/null 2>&1; rc=$?
equals "a corrupt report among them is skipped, with a message" 0 "$rc"
rm -rf "$hist"

# a reader of the stream that goes away: the run goes on and reports (EPIPE, not SIGPIPE)
before=$(ls "$diag_state/runs" | wc -l)
"$tb" sim run -- "$tb" diag --state "$diag_state" -g 0 -t fence --json-stream | true
rc=${PIPESTATUS[0]}
equals "a --json-stream reader that leaves: the run still ends as it should (exit 0) and keeps its report" \
  "0 $((before + 1))" "$rc $(ls "$diag_state/runs" | wc -l)"

# files of its own that are not what they should be: never blocks, never reads /dev/zero
mkfifo "$diag_state/crash.json"
out=$(timeout 60 "$tb" sim run -- "$tb" diag --state "$diag_state" -l 0 -g 0 --quiet 2>&1); rc=$?
equals "a FIFO where the crash record belongs: the run neither blocks nor counts a crash" 0 "$rc"
rm -f "$diag_state/crash.json"; ln -s /dev/zero "$diag_state/runs/zero.json"
name="a report that is a link to /dev/zero" usage_error diag report zero
check "the box stops" "$tb" sim stop
