#!/usr/bin/env bash
# tb diag's level-2 tests and performance verdicts on a simulated box of its
# own: March C- catches bits flipped while it runs; peer copies cover every
# ordered pair of GPUs; a reference file the box cannot reach fails the
# perf test, one it passes does not; --calibrate writes nothing from a run
# that did not pass.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
. "$TB_SRC/tests/diag/flip.inc.sh"
diag_state=$(mktemp -d /tmp/tb-test-diag.XXXXXX)
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state" "$diag_state"' EXIT
start_box
ok "the box starts"
diag() { "$tb" sim run -- "$tb" diag --state "$diag_state" "$@"; }
# py FILE EXPR: EXPR over the report (rep), printed
py() { python3 -c 'import json, sys; rep = json.load(open(sys.argv[1])); R = rep["results"]; print(eval(sys.argv[2]))' "$@"; }

# ---- peer copies: every ordered pair ---------------------------------------------------------------
diag -l medium -t peer --seed 7 --quiet --json "$diag_state/peer.json"; rc=$?
equals "peer copies on six GPUs: every GPU PASS, exit 0" "['PASS'] 6 0" "$(py "$diag_state/peer.json" '"%s %d" % (sorted(set(r["status"] for r in R)), len(R))') $rc"
equals "each of the 30 ordered pairs measured alone, and each GPU's copies to all at once" "30 6" \
  "$(py "$diag_state/peer.json" '"%d %d" % (sum(1 for r in R for m in r["measurements"] if m["name"].startswith("to_gpu")), sum(1 for r in R for m in r["measurements"] if m["name"] == "all_at_once"))')"
equals "no pair is its own peer" "True" \
  "$(py "$diag_state/peer.json" 'all("to_gpu%d" % r["gpu"] not in [m["name"] for m in r["measurements"]] for r in R)')"
diag -l medium -t peer -g 2 --quiet --json "$diag_state/peer1.json"; rc=$?
equals "one GPU alone has no peer: SKIPPED NO_PEERS, exit 0" "SKIPPED NO_PEERS 0" \
  "$(py "$diag_state/peer1.json" 'R[0]["status"] + " " + R[0]["reason"]') $rc"

# a stuck bit in GPU 3's VRAM: every copy into GPU 3 reads wrong, and each names GPU 3 as the suspect
"$tb" sim fault 3 vram-stuck 0 65536 4096 >/dev/null
diag -l medium -t peer -g 0,1,3 --seed 7 --quiet --json "$diag_state/stuck.json"; rc=$?
"$tb" sim fault clear 3 >/dev/null
equals "a stuck VRAM bit on GPU 3: peer FAIL PEER_DATA_MISMATCH on each GPU, single-bit, exit 1" \
  "['FAIL'] ['PEER_DATA_MISMATCH'] ['single-bit'] 1" \
  "$(py "$diag_state/stuck.json" '"%s %s %s" % (sorted(set(r["status"] for r in R)), sorted(set(r["reason"] for r in R)), sorted(set(r["evidence"]["class"] for r in R)))') $rc"
equals "each names GPU 3 as the suspect: the sources on GPUs 0 and 1 still hold their keys" "[(0, 3, 0), (1, 3, 0), (3, 3, 'wrong')]" \
  "$(py "$diag_state/stuck.json" 'sorted((r["gpu"], r["evidence"]["suspect_gpu"], r["evidence"]["source_words_wrong"] and "wrong") for r in R)')"

# ---- March C-: bits flipped while its elements run --------------------------------------------------
vram_flip_during "March C- up r0 w1" march
equals "bits flipped during March C-: vram FAIL VRAM_PATTERN_ERRORS in a march element, single-bit, exit 1" \
  "FAIL VRAM_PATTERN_ERRORS True single-bit 1" \
  "$(py "$diag_state/march.json" '" ".join(str(x) for x in (R[0]["status"], R[0]["reason"], R[0]["evidence"]["pass"].startswith(("March C-", "moving inversions")), R[0]["evidence"]["class"]))') $rc"
"$tb" sim fault clear >/dev/null

# ---- performance against a reference ----------------------------------------------------------------
ref() { printf '{"schema": "tb.diag.reference/1", "measurements": {"copy/host_to_vram": {"median": %s, "unit": "GB/s"}}}' "$1"; }
ref 100000 >"$diag_state/fast.json"
diag -g 0,1 -t copy,perf --quiet --reference "$diag_state/fast.json" --json "$diag_state/slow.json"; rc=$?
equals "a reference the box is far below: perf FAIL PERF_BELOW_REFERENCE on each GPU, exit 1" \
  "['FAIL PERF_BELOW_REFERENCE', 'FAIL PERF_BELOW_REFERENCE'] 1" \
  "$(py "$diag_state/slow.json" 'sorted(r["status"] + " " + r["reason"] for r in R if r["test"] == "perf")') $rc"
equals "the measurement carries its reference and threshold (85% of it)" "100000.0 85000.0" \
  "$(py "$diag_state/slow.json" '" ".join(str(m["reference"]) + " " + str(m["threshold"]) for r in R if r["test"] == "copy" and r["gpu"] == 0 for m in r["measurements"] if m["name"] == "host_to_vram")')"
ref 0.000001 >"$diag_state/slowref.json"
diag -g 0,1 -t copy,perf --quiet --reference "$diag_state/slowref.json" --json "$diag_state/fast-enough.json"; rc=$?
equals "a reference the box is above: perf PASS, exit 0" "['PASS OK', 'PASS OK'] 0" \
  "$(py "$diag_state/fast-enough.json" 'sorted(r["status"] + " " + r["reason"] for r in R if r["test"] == "perf")') $rc"
"$tb" sim fault 3 hang >/dev/null
diag -g 3 -t queues --quiet --calibrate "$diag_state/bad-ref.json" >/dev/null 2>&1; rc=$?
equals "--calibrate on a run that did not pass: no reference written, the run's exit code" "no file 2" \
  "$([ -e "$diag_state/bad-ref.json" ] && echo file || echo no file) $rc"
"$tb" sim fault clear >/dev/null
# ---- another process holding a GPU: ENV_NOT_READY, not FAIL ----------------------------------------
setsid "$tb" sim run -- "$tb" diag --state "$diag_state/holder" -g 1 -t fence --iterations 1000000 --json-stream \
  >"$diag_state/holder.out" 2>&1 &
holder=$!
for _ in $(seq 300); do grep -q '"step":"round trips"' "$diag_state/holder.out" && break; sleep 0.1; done
diag -g 0,1 -t exclusive,queues --quiet --json "$diag_state/held.json"; rc=$?
kill -KILL -- -"$holder" 2>/dev/null; wait "$holder" 2>/dev/null
equals "a GPU another process holds (KFD's proc/PID/vram_ID): exclusive ENV_NOT_READY GPU_IN_USE, its tests NOT_RUN, GPU 0 PASS, exit 3" \
  "ENV_NOT_READY GPU_IN_USE|NOT_RUN GPU_IN_USE|PASS OK 3" \
  "$(py "$diag_state/held.json" '"|".join([r["status"] + " " + r["reason"] for r in R if r["gpu"] == 1 and r["test"] == t][0] for t in ("exclusive", "queues")) + "|" + [r["status"] + " " + r["reason"] for r in R if r["gpu"] == 0 and r["test"] == "queues"][0]') $rc"
equals "the amdgpu module parameters that matter are in the report" "True" \
  "$(py "$diag_state/held.json" '"lockup_timeout" in rep["run"]["amdgpu_parameters"]')"
# ---- the live table: on a terminal only -----------------------------------------------------------
script -qec "\"$tb\" sim run -- \"$tb\" diag --state \"$diag_state\" -g 0,1 -t queues,fence" /dev/null >"$diag_state/live.out" 2>&1
contains "on a terminal, a live GPU x test table redrawn in place" "$(printf '\033[3A\033[K')GPU  queues         fence" "$(cat "$diag_state/live.out")"
diag -g 0,1 -t queues,fence >"$diag_state/notty.out" 2>/dev/null
equals "standard output not a terminal: no table redrawing there" 0 "$(grep -c "$(printf '\033')" "$diag_state/notty.out")"
check "the box stops" "$tb" sim stop
