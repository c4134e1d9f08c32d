#!/bin/sh
# The code object loader under libFuzzer, seeded with real code objects:
# TB_FUZZ_SECONDS (default 20) of mutated input must find no crash.
. "$TB_SRC/tests/tap.sh" 2>/dev/null || . "$(dirname "$0")/../tap.sh"
TB_BUILD=$(cd "$TB_BUILD" && pwd)
corpus=$(mktemp -d /tmp/tb-fuzz.XXXXXX)
mkdir -p "$TB_BUILD/test-logs"
trap 'rm -rf "$corpus"' EXIT
cp "$TB_BUILD"/gpu/tests/kernels/*.co "$TB_BUILD"/gpu/tests/isa/*.co "$corpus"/ 2>/dev/null
n=$(ls "$corpus" | wc -l)
[ "$n" -gt 5 ] && ok "seeded with $n real code objects" || not_ok "seed corpus" "$n code objects found"
secs=${TB_FUZZ_SECONDS:-20}
# msgpack-c sizes its arrays from the counts an input claims (a malformed
# note may claim billions): such a request is a failed allocation the loader
# reports, not a bug, so the sanitizer returns NULL instead of stopping and
# libFuzzer's per-malloc limit sits above it; the RSS limit still holds.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1"
out=$(cd "$corpus" && "$TB_BUILD/tests/codeobj_fuzz" -max_total_time="$secs" -max_len=65536 -timeout=10 \
      -rss_limit_mb=1536 -malloc_limit_mb=1048576 -artifact_prefix="$TB_BUILD/test-logs/fuzz-" \
      -print_final_stats=1 "$corpus" 2>&1); rc=$?
runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
[ $rc -eq 0 ] && ok "the loader survives ${runs:-?} fuzzed inputs in ${secs}s" || \
  not_ok "the loader under libFuzzer" "status $rc: $(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|crash-|leak' | head -n 8; printf '%s\n' "$out" | tail -n 6)"
