# The engine's shell tests (engine.sh, engine_hf.sh): source after tap.sh;
# a box of their own, models written by mkmodel.py into a directory of their own.
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
  gpus=$1 extra=$2; shift 2
  model "$@" || return
  tap_run "$1 $2 $3 dim $4 on $gpus: " "$tb" sim run -- "$TB_BUILD/tests/test_engine" "$p" "$kern" "$gpus" $extra
}
