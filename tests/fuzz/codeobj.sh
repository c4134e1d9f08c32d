#!/bin/sh
# The code object loader under libFuzzer, seeded with real code objects:
# TB_FUZZ_SECONDS (default 20) of mutated input must find no crash.
. "$TB_SRC/tests/tap.sh" 2>/dev/null || . "$(dirname "$0")/../tap.sh"
TB_BUILD=$(cd "$TB_BUILD" && pwd)
corpus=$(mktemp -d /tmp/tb-fuzz.XXXXXX)
crafted=$(mktemp /tmp/tb-fuzz-claim.XXXXXX)
mkdir -p "$TB_BUILD/test-logs"
trap 'rm -rf "$corpus" "$crafted"' EXIT
cp "$TB_BUILD"/gpu/tests/kernels/*.co "$TB_BUILD"/gpu/tests/isa/*.co "$corpus"/ 2>/dev/null
n=$(ls "$corpus" | wc -l)
[ "$n" -gt 5 ] && ok "seeded with $n real code objects" || not_ok "seed corpus" "$n code objects found"
secs=${TB_FUZZ_SECONDS:-20}
# msgpack-c sizes its arrays from the counts an input claims: a note whose
# array claims 2^32 - 1 elements (the key "amdhsa.target" turned into an
# array32 header, same length) must be refused before msgpack-c allocates
# for them; libFuzzer's malloc limit (its RSS limit) reports such a malloc.
seed=$(ls "$corpus"/*.co | head -n 1)
python3 - "$seed" "$crafted" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
key = b"\xad" + b"amdhsa.target"
i = data.find(key)
assert i >= 0, "no amdhsa.target key in the seed"
data[i:i + 5] = b"\xdd\xff\xff\xff\xff"
open(sys.argv[2], "wb").write(data)
PY
out=$("$TB_BUILD/tests/codeobj_fuzz" -rss_limit_mb=1536 "$crafted" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "a metadata note claiming 2^32 - 1 array elements is refused before allocation" || \
  not_ok "a note claiming a huge array" "status $rc: $(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|malloc' | head -n 4)"
out=$(cd "$corpus" && "$TB_BUILD/tests/codeobj_fuzz" -max_total_time="$secs" -max_len=65536 -timeout=10 \
      -rss_limit_mb=1536 -artifact_prefix="$TB_BUILD/test-logs/fuzz-" \
      -print_final_stats=1 "$corpus" 2>&1); rc=$?
runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
[ $rc -eq 0 ] && ok "the loader survives ${runs:-?} fuzzed inputs in ${secs}s" || \
  not_ok "the loader under libFuzzer" "status $rc: $(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|crash-|leak' | head -n 8; printf '%s\n' "$out" | tail -n 6)"
