#!/bin/sh
# make bench: tb diag's own figures on a simulated box of its own, each
# beside what it is compared with, in the same run.  Never fails on timing.
#  - its host-to-VRAM bandwidth (the copy test) against tb bench copy
#  - hang detection: from the submission's 2 s deadline to the HANG report
#  - the memory test's fill and check throughput against tb bench copy
#  - the peer copies' bandwidth, alone and all at once, against tb bench copy
#  - the supervisor's CPU time per GPU per second of a quick run
build=${TB_BUILD:-build}
tb="$build/bin/tb"
state=$(mktemp -d /tmp/tb-bench-diag.XXXXXX)
export TB_SIM_STATE="$state/box"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
"$tb" sim start >/dev/null || exit 1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
diag() { "$tb" sim run -- "$tb" diag --state "$state/diag" --quiet "$@"; }
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# bandwidth: tb bench copy and diag's copy test on GPU 0, alternating
for round in 1 2 3; do
  bench=$("$tb" sim run -- "$tb" bench copy --json --mib 16 | python3 -c 'import json,sys; print(json.load(sys.stdin)["sdma_gb_per_s"])') || exit 1
  diag -g 0 -t copy --json "$state/copy.json"
  ours=$(field "$state/copy.json" '[m["value"] for r in d["results"] if r["test"]=="copy" for m in r["measurements"] if m["name"]=="host_to_vram"][0]')
  size=$(field "$state/copy.json" '[m["value"] for r in d["results"] if r["test"]=="copy" for m in r["measurements"] if m["name"]=="size"][0]')
  printf 'round %d: host to VRAM  tb bench copy (16 MiB) %6.2f GB/s   tb diag copy (%.0f MiB) %6.2f GB/s   ratio %.2f\n' \
    "$round" "$bench" "$size" "$ours" "$(python3 -c "print($ours / $bench)")"
done

# the memory test's throughput against the copy engine's, same GPU, same round
bench=$("$tb" sim run -- "$tb" bench copy --json --mib 64 | python3 -c 'import json,sys; print(json.load(sys.stdin)["sdma_gb_per_s"])') || exit 1
diag -g 0 -l medium -t vram --json "$state/vram.json"
field "$state/vram.json" '"vram test over %.0f MiB: fill %.2f GB/s, check %.2f GB/s = %.2f and %.2f of tb bench copy (%s GB/s)" % tuple([next(m["value"] for r in d["results"] if r["test"]=="vram" for m in r["measurements"] if m["name"]==k) for k in ("tested","fill","check")] + [next(m["value"] for r in d["results"] if r["test"]=="vram" for m in r["measurements"] if m["name"]==k) / '"$bench"' for k in ("fill","check")] + ["'"$bench"'"])'

# peer copies: each pair alone (the median of a GPU's five) and to all at
# once, against the copy engine's host-to-VRAM figure in the same round
bench=$("$tb" sim run -- "$tb" bench copy --json --mib 16 | python3 -c 'import json,sys; print(json.load(sys.stdin)["sdma_gb_per_s"])') || exit 1
diag -l medium -t peer --json "$state/peer.json"
field "$state/peer.json" '"peer copies (%.0f MiB): each pair alone, median over GPUs %.2f GB/s; to every peer at once %.2f GB/s a GPU; tb bench copy %s GB/s" % (next(m["value"] for r in d["results"] for m in r["measurements"] if m["name"]=="size"), sorted(m["value"] for r in d["results"] for m in r["measurements"] if m["name"]=="alone_median")[len(d["results"])//2], sorted(m["value"] for r in d["results"] for m in r["measurements"] if m["name"]=="all_at_once")[len(d["results"])//2], "'"$bench"'")'

# hang detection: a hang armed on GPU 1, caught at its first fence (deadline 2 s)
for round in 1 2 3; do
  "$tb" sim fault 1 hang >/dev/null
  diag -g 1 -t queues --json "$state/hang.json"
  field "$state/hang.json" '"round %d: hang reported %.0f ms after its 2000 ms deadline (%s)" % ('"$round"', [r for r in d["results"] if r["test"]=="queues"][0]["seconds"] * 1000 - 2000, [r for r in d["results"] if r["test"]=="queues"][0]["status"])'
done

# the supervisor's cost: a quick run on all six GPUs
diag -l quick --json "$state/quick.json"
field "$state/quick.json" '"quick run on %d GPUs: %.1f s, supervisor CPU %.3f s = %.2f ms per GPU per second" % (len(d["run"]["gpus"]), d["run"]["seconds"], d["run"]["supervisor_cpu_seconds"], d["run"]["supervisor_cpu_seconds"] * 1000 / len(d["run"]["gpus"]) / d["run"]["seconds"])'
