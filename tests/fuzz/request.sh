#!/bin/sh
# tb-inferd's request parser under libFuzzer, seeded with real requests (chat
# and completions, streaming, stop strings, content parts, bad fields):
# TB_FUZZ_SECONDS (default 20) of mutated bodies must find no crash, leak,
# out-of-range value or refusal without a message.
. "$TB_SRC/tests/tap.sh" 2>/dev/null || . "$(dirname "$0")/../tap.sh"
TB_BUILD=$(cd "$TB_BUILD" && pwd)
work=$(mktemp -d /tmp/tb-fuzz-request.XXXXXX)
corpus="$work/corpus"
mkdir -p "$corpus" "$TB_BUILD/test-logs"
trap 'rm -rf "$work"' EXIT
i=0
while IFS= read -r body; do
  i=$((i + 1)); printf '%s' "$body" >"$corpus/seed-$i.json"
done <<'SEEDS'
{"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "max_tokens": 16, "temperature": 0.7, "top_p": 0.9, "seed": 7, "stop": ["\n\n", "END"], "stream": true, "stream_options": {"include_usage": true}}
{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, {"role": "assistant", "content": "c"}, {"role": "developer", "content": "d"}], "max_completion_tokens": 3, "n": 1, "top_k": 5}
{"prompt": "the cat", "max_tokens": 6, "temperature": 0, "stop": "at"}
{"prompt": ["one"], "logit_bias": {"1": 2}, "user": "u", "seed": 9223372036854775807}
{"messages": [{"role": "user", "content": "\u00e9\ud83d\ude00\u0000"}], "temperature": 2, "top_p": 1e-9}
{"messages": [[[[[[[[[["deep"]]]]]]]]]]}
{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5, "stop": ["a", "b", "c", "d", "e"]}
SEEDS
[ "$i" -ge 7 ] && ok "seeded with $i request bodies" || not_ok "seed corpus" "$i bodies"
secs=${TB_FUZZ_SECONDS:-20}
out=$(cd "$work" && "$TB_BUILD/tests/request_fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 \
      -rss_limit_mb=1024 -artifact_prefix="$TB_BUILD/test-logs/fuzz-request-" -print_final_stats=1 "$corpus" 2>&1); rc=$?
runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
[ $rc -eq 0 ] && ok "the request parser survives ${runs:-?} fuzzed bodies in ${secs}s" || \
  not_ok "the request parser under libFuzzer" "status $rc: $(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|crash-|leak|deadly' | head -n 8; printf '%s\n' "$out" | tail -n 6)"
