#!/bin/sh
# libtbinfer's GGUF parser and Hugging Face reader under libFuzzer, seeded
# with tiny models from mkmodel.py (good and bad): TB_FUZZ_SECONDS (default
# 20) of mutated input must find no crash, leak or tensor outside its file.
. "$TB_SRC/tests/tap.sh" 2>/dev/null || . "$(dirname "$0")/../tap.sh"
TB_BUILD=$(cd "$TB_BUILD" && pwd)
src=${TB_SRC:-$(dirname "$0")/../..}
mk="python3 $src/tests/infer/mkmodel.py --dim 8 --heads 2 --ffn 8 --layers 1"
work=$(mktemp -d /tmp/tb-fuzz-gguf.XXXXXX)
corpus="$work/corpus"
mkdir -p "$corpus" "$TB_BUILD/test-logs"
trap 'rm -rf "$work"' EXIT
for v in spm bpe; do
  for t in f32 f16 q8_0; do
    extra=; [ $t = q8_0 ] && extra="--dim 32 --ffn 32"
    $mk $extra --format gguf --vocab $v --type $t --out "$corpus/$v-$t.gguf" >/dev/null
  done
  $mk --format gguf --vocab $v --tied --llama3-rope --out "$corpus/$v-tied.gguf" >/dev/null
done
# Hugging Face seeds share the tokenizer the fuzz target is given
for t in f32 bf16; do
  $mk --format hf --type $t --out "$work/hf-$t" >/dev/null
  { cat "$work/hf-$t/config.json"; printf '\0'; cat "$work/hf-$t/model.safetensors"; } >"$corpus/hf-$t"
done
for kind in shape unknown-type nested-array misaligned-offset bad-token-id; do
  $mk --format gguf --corrupt $kind --out "$corpus/bad-$kind.gguf" >/dev/null
done
n=$(ls "$corpus" | wc -l)
[ "$n" -ge 15 ] && ok "seeded with $n models" || not_ok "seed corpus" "$n models made"
secs=${TB_FUZZ_SECONDS:-20}
out=$(cd "$work" && TBI_FUZZ_TOKENIZER="$work/hf-f32" "$TB_BUILD/tests/gguf_fuzz" -max_total_time="$secs" \
      -max_len=131072 -timeout=10 -rss_limit_mb=1536 -artifact_prefix="$TB_BUILD/test-logs/fuzz-gguf-" \
      -print_final_stats=1 "$corpus" 2>&1); rc=$?
runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
[ $rc -eq 0 ] && ok "the model readers survive ${runs:-?} fuzzed inputs in ${secs}s" || \
  not_ok "the model readers under libFuzzer" "status $rc: $(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|crash-|leak' | head -n 8; printf '%s\n' "$out" | tail -n 6)"
