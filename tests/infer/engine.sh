#!/bin/sh
# The engine on the simulated box (tests/infer/test_engine.c): for models in
# both formats and every weight type, greedy generation on 1 and on 6 GPUs
# against the host reference forward pass; a hang injected on one GPU mid-
# generation; tb generate and tb chat as a user runs them.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
mk="python3 $TB_SRC/tests/infer/mkmodel.py"
kern="$TB_BUILD/share/tb/infer.co"
d=$(mktemp -d /tmp/tb-engine.XXXXXX)
trap 'rm -rf "$d"; "$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state"' EXIT

# FORMAT TYPE VOCAB DIM FFN HEADS KV_HEADS [EXTRA]: sizes that are not
# multiples of 32 (but for q8_0's rows), GQA, 5 heads over 6 GPUs (one
# GPU without a head), a tied head, Llama 3's RoPE scaling
model() {
  p="$d/$1-$2-$3-$4"; [ "$1" = gguf ] && p="$p.gguf"
  $mk --format "$1" --type "$2" --vocab "$3" --dim "$4" --ffn "$5" --heads "$6" --kv-heads "$7" --layers 2 \
      --ctx 512 --seed 11 --out "$p" $8 >/dev/null 2>&1 || { not_ok "mkmodel $*"; return 1; }
}
run_model() {
  model "$@" || return
  tap_run "$1 $2 $3 dim $4: " "$tb" sim run -- "$TB_BUILD/tests/test_engine" "$p" "$kern" 6
}
run_model gguf f32 spm 40 72 4 2
run_model gguf f16 bpe 40 72 5 5 --tied
run_model gguf bf16 spm 48 80 6 2 --llama3-rope
run_model gguf q8_0 bpe 64 96 4 2
run_model hf f16 bpe 40 72 4 2
run_model hf bf16 spm 48 80 6 3 --tied

# a hang on GPU 2 mid-generation
model gguf f16 spm 40 72 6 2 && \
  tap_run "hang: " "$tb" sim run -- "$TB_BUILD/tests/test_engine" "$p" "$kern" 6 --hang 2 "$tb"
"$tb" sim fault clear >/dev/null 2>&1
