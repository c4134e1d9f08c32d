#!/usr/bin/env bash
# tb diag's levels 3 (long) and 4 (soak) on a simulated box of its own,
# with small --duration: the sustained tests pass and compare every output;
# a soak runs rounds in a seeded order and reports its rate per GPU-hour;
# --until-fail stops at the first failure; a soak with no end is exit 4.
# The random-pattern test logs each round's seed (journal and report) and
# catches bits lost in its retention region.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
. "$TB_SRC/tests/diag/flip.inc.sh"
diag_state=$(mktemp -d /tmp/tb-test-diag.XXXXXX)
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state" "$diag_state"' EXIT
start_box
ok "the box starts"
diag() { "$tb" sim run -- "$tb" diag --state "$diag_state" "$@"; }
py() { python3 -c 'import json, sys; rep = json.load(open(sys.argv[1])); R = rep["results"]; print(eval(sys.argv[2]))' "$@"; }

diag -l long -g 0,3 -t gemm_long,sdma_long,vram_random,demo_loop,queue_storm --iterations 20 --duration 8 --seed 11 --quiet \
  --json "$diag_state/long.json"; rc=$?
equals "the sustained tests on GPUs 0 and 3: every one PASS, exit 0" "['PASS'] 10 0" \
  "$(py "$diag_state/long.json" '"%s %d" % (sorted(set(r["status"] for r in R)), len(R))') $rc"
equals "the GEMMs ran fp32 and fp16 (WMMA), round after round" "True" \
  "$(py "$diag_state/long.json" 'all(any(m["name"] == "fp16_wmma" for m in r["measurements"]) and [m["value"] for m in r["measurements"] if m["name"] == "rounds"][0] >= 1 for r in R if r["test"] == "gemm_long")')"
equals "2,000 mixed queue cycles by default; --iterations 20 here, of both kinds" "True" \
  "$(py "$diag_state/long.json" 'all("compute" in r["detail"] and "SDMA" in r["detail"] for r in R if r["test"] == "queue_storm")')"
equals "random patterns: rounds each with a seed of its own, in the report and in the journal, and a retention region held the whole test" \
  "True True True" "$(py "$diag_state/long.json" '" ".join(str(x) for x in (lambda r: (len(set(r["evidence"]["round_seeds"])) == [m["value"] for m in r["measurements"] if m["name"] == "rounds"][0] >= 1, all(("seed " + s) in open(sys.argv[3]).read() for s in r["evidence"]["round_seeds"] + [r["evidence"]["retention_seed"]]), [m["value"] for m in r["measurements"] if m["name"] == "retention_held"][0] > 0))([r for r in R if r["test"] == "vram_random" and r["gpu"] == 0][0]))' "$diag_state/journal")"
check "the report is valid against diag/schema.json" python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' "$diag_state/long.json" "$TB_SRC/diag/schema.json"

diag -l soak -g 1 -t gemm_long,demo_loop,soak --duration 6 --seed 5 --quiet --json "$diag_state/soak.json"; rc=$?
equals "a 6 s soak: rounds of the sustained tests, a soak PASS with its 95% bound, exit 0" "PASS True True 0" \
  "$(py "$diag_state/soak.json" '" ".join(str(x) for x in ([r["status"] for r in R if r["test"] == "soak"][0], max(r.get("round", 0) for r in R) >= 1, any(m["name"] == "failures_per_gpu_hour_95_upper" for r in R if r["test"] == "soak" for m in r["measurements"])))') $rc"
order=$(py "$diag_state/soak.json" '" ".join(str(r.get("round")) + r["test"][0] for r in R if r["test"] != "soak")')
diag -l soak -g 1 -t gemm_long,demo_loop,soak --duration 6 --seed 5 --quiet --json "$diag_state/soak2.json"
order2=$(py "$diag_state/soak2.json" '" ".join(str(r.get("round")) + r["test"][0] for r in R if r["test"] != "soak")')
n=$(printf '%s\n%s\n' "$order" "$order2" | awk '{ print NF }' | sort -n | head -1)
equals "the same seed, the same order of tests in each round" "$(echo "$order" | cut -d' ' -f1-"$n")" "$(echo "$order2" | cut -d' ' -f1-"$n")"

"$tb" sim fault 2 hang >/dev/null
diag -l soak -g 2 -t queues,gemm_long,soak --until-fail --duration 600 --quiet --json "$diag_state/fail.json"; rc=$?
equals "--until-fail: the first round's hang ends the soak (the GPU quarantined), soak FAIL, exit 2" "FAIL SOAK_FAILURES 1 2" \
  "$(py "$diag_state/fail.json" '" ".join(str(x) for x in ([r["status"] + " " + r["reason"] for r in R if r["test"] == "soak"][0], 1 + max(r.get("round", 0) for r in R)))') $rc"
"$tb" sim fault clear >/dev/null
"$tb" sim fault 4 hang >/dev/null
diag -g 4 -t queues,fence --allow-reset --quiet --json "$diag_state/reset.json"; rc=$?
equals "--allow-reset: GPU 4 hangs, a new worker finds it answering again (recovery PASS), its other tests still NOT_RUN, exit 2" \
  "HANG|NOT_RUN|PASS 2" "$(py "$diag_state/reset.json" '"|".join([r["status"] for r in R if r["test"] == t][0] for t in ("queues", "fence", "recovery"))') $rc"
"$tb" sim fault clear >/dev/null
diag -g 4 -t queues --quiet --json "$diag_state/noreset.json"
equals "without it, no recovery is tried" "0" "$(py "$diag_state/noreset.json" 'sum(1 for r in R if r["test"] == "recovery")')"
vram_flip_during "round 1 check" random -l long -t vram_random --duration 3
equals "bits flipped in VRAM during the rounds: vram_random FAIL, single-bit, the retention region's check finds its share, exit 1" \
  "FAIL VRAM_PATTERN_ERRORS single-bit True 1" \
  "$(py "$diag_state/random.json" '" ".join(str(x) for x in (lambda r: (r["status"], r["reason"], r["evidence"]["class"], r["evidence"]["pass"] == "retention" or r["evidence"]["retention"]["bit_histogram"][0] > 0))([r for r in R if r["test"] == "vram_random"][0]))') $rc"
"$tb" sim fault clear >/dev/null
out=$(diag -l soak 2>&1); rc=$?
equals "a soak with neither --duration nor --until-fail: exit 4 with a message" "4 True" "$rc $([ -n "$out" ] && echo True)"
out=$(diag -l long --duration 5x 2>&1); rc=$?
equals "a duration that is no time: exit 4" 4 "$rc"
check "the box stops" "$tb" sim stop
