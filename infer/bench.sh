#!/bin/sh
# make bench: the inference engine's figures on a simulated box of its own,
# in one run: decode and prefill tokens/s on 1 and 6 GPUs, host CPU per
# token, launches and replays per token, weights read per token against the
# model's size; the engine's load GB/s against tb load of the same file.
# Never fails on timing.
build=${TB_BUILD:-build}
src=${TB_SRC:-.}
tb="$build/bin/tb"
state=$(mktemp -d /tmp/tb-bench-infer.XXXXXX)
export TB_SIM_STATE="$state/box"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
"$tb" sim start >/dev/null || exit 1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
mk="python3 $src/tests/infer/mkmodel.py"
# a small model the emulated GPUs run in seconds: 4 layers, dim 256, 8 heads over 4 KV heads
$mk --format hf --type f16 --vocab bpe --dim 256 --ffn 688 --heads 8 --kv-heads 4 --layers 4 --ctx 1024 --seed 5 \
    --out "$state/m" >/dev/null || exit 1
prompt="the quick brown fox jumps over the lazy dog and the cat sat on the mat while the bird sang"
for g in 1 6; do
  "$tb" sim run -- "$tb" generate "$state/m" --prompt "$prompt" --max-tokens 48 --gpus $g --json >"$state/g$g.json" || exit 1
  python3 - "$state/g$g.json" "$state/m/model.safetensors" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1])); s = d["stats"]
size = os.path.getsize(sys.argv[2])
print("%d GPU(s): prompt %d tokens, prefill %.1f tokens/s, decode %.1f tokens/s, first token %.3f s, "
      "host CPU %.0f us/token (+ %.0f us spinning in waits), %d launches and %d replays per token, weights read %.2f MB/token = %.2f of the "
      "model's %.2f MB, load %.2f GB/s"
      % (s["gpus"], s["prompt_tokens"], s["prefill_tokens_per_s"], s["decode_tokens_per_s"], s["first_token_s"],
         s["host_us_per_token"], s["wait_us_per_token"], s["launches_per_token"], s["replays_per_token"], s["weight_bytes_per_token"] / 1e6,
         s["weight_bytes_per_token"] / size, size / 1e6, s["load_bytes"] / s["load_seconds"] / 1e9))
PY
done
# loading, on a model large enough that per-load costs do not dominate:
# the engine (O_DIRECT reads into pinned staging, SDMA to each GPU's slices)
# against tb load of the same file to nothing and to one GPU (SDMA) in the
# same run
$mk --format hf --type f16 --vocab bpe --dim 512 --ffn 1376 --heads 8 --kv-heads 4 --layers 8 --ctx 256 --seed 5 \
    --out "$state/big" >/dev/null || exit 1
file="$state/big/model.safetensors"
echo "load of $(( $(stat -c %s "$file") / 1000000 )) MB (f16, 8 layers, dim 512):"
for g in 1 6; do
  "$tb" sim run -- "$tb" generate "$state/big" --prompt x --max-tokens 1 --gpus $g --json | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print("  engine on %d GPU(s): %.3f GB/s" % (s["gpus"], s["load_bytes"] / s["load_seconds"] / 1e9))' || exit 1
done
for to in null gpu0; do
  "$tb" sim run -- "$tb" load "$file" --to $to --json | python3 -c '
import json, sys
print("  tb load --to %s: %.3f GB/s" % (sys.argv[1], json.load(sys.stdin)["gb_per_s"]))' $to || exit 1
done
