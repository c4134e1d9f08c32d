#!/bin/sh
# libtbinfer's models: tiny llama models written by mkmodel.py in every
# format, weight type and vocabulary kind open with the hyperparameters,
# tensor table and vocabulary they were written with; split sets open from
# any part; each bad model is refused with a message naming what is wrong.
. "$TB_SRC/tests/tap.sh" 2>/dev/null || . "$(dirname "$0")/../tap.sh"
src=${TB_SRC:-$(dirname "$0")/../..}
show="$TB_BUILD/tests/test_models show"
mk="python3 $src/tests/infer/mkmodel.py"
d=$(mktemp -d /tmp/tb-models.XXXXXX)
trap 'rm -rf "$d"' EXIT

# model FORMAT TYPE VOCAB DIM FFN: dim and ffn not multiples of 32 but for
# q8_0; 4 heads over 2 KV heads (GQA)
for spec in gguf:f32 gguf:f16 gguf:bf16 gguf:q8_0 hf:f32 hf:f16 hf:bf16; do
  fmt=${spec%:*} type=${spec#*:}
  for vocab in spm bpe; do
    dim=40 ffn=72; [ "$type" = q8_0 ] && dim=64 ffn=96
    p="$d/$fmt-$type-$vocab"; [ "$fmt" = gguf ] && p="$p.gguf"
    if ! out=$($mk --format "$fmt" --type "$type" --vocab "$vocab" --dim $dim --ffn $ffn --heads 4 --kv-heads 2 \
               --layers 3 --ctx 512 --seed 7 --out "$p" 2>&1); then
      not_ok "mkmodel $fmt $type $vocab" "$out"; continue
    fi
    out=$($show "$p" 2>&1); rc=$?
    [ $rc -eq 0 ] || { not_ok "$fmt $type $vocab opens" "$out"; continue; }
    if [ "$vocab" = spm ]; then nv=459; else nv=461; fi
    equals "$fmt $type $vocab: hyperparameters" \
      "hparams vocab=$nv dim=$dim layers=3 heads=4 kv_heads=2 head_dim=$((dim / 4)) ffn=$ffn ctx=512" \
      "$(printf '%s\n' "$out" | grep '^hparams')"
    equals "$fmt $type $vocab: 3 layers of 9 tensors, embeddings, norm, head" "tensors 30" \
      "$(printf '%s\n' "$out" | grep '^tensors')"
    # matrices of the type written; GGUF norms f32 (as llama.cpp writes them)
    bad=$(printf '%s\n' "$out" | grep '^tensor ' | grep -v '_norm' | grep -v " $type \[" | head -n 3)
    equals "$fmt $type $vocab: every matrix is $type" "" "$bad"
    outside=$(printf '%s\n' "$out" | grep -c 'OUTSIDE-FILE')
    equals "$fmt $type $vocab: every tensor lies inside its file" "0" "$outside"
    contains "$fmt $type $vocab: q_proj shape" "tensor blk.2.attn_q.weight $type [$dim,$dim,1,1]" "$out"
    contains "$fmt $type $vocab: k_proj shape (GQA)" "tensor blk.2.attn_k.weight $type [$dim,$((dim / 2)),1,1]" "$out"
    contains "$fmt $type $vocab: ffn_down shape" "tensor blk.0.ffn_down.weight $type [$ffn,$dim,1,1]" "$out"
    if [ "$fmt" = gguf ]; then rope=adjacent; else rope=halves; fi
    contains "$fmt $type $vocab: RoPE layout $rope" "rope $rope" "$out"
    if [ "$vocab" = spm ]; then
      contains "$fmt $type $vocab: SentencePiece vocabulary" "vocab spm" "$out"
      contains "$fmt $type $vocab: 256 byte tokens" "byte=256" "$out"
      contains "$fmt $type $vocab: BOS <s>" "bos_text <s>" "$out"
    else
      contains "$fmt $type $vocab: BPE vocabulary, Llama 3 pre-tokenizer, 200 merges" "vocab bpe llama3 tokens=461 merges=200" "$out"
      contains "$fmt $type $vocab: 5 control tokens" "control=5" "$out"
      contains "$fmt $type $vocab: BOS <|begin_of_text|>" "bos_text <|begin_of_text|>" "$out"
      contains "$fmt $type $vocab: EOT <|eot_id|>" "eot=458" "$out"
      contains "$fmt $type $vocab: the llama3 chat template" "template llama3" "$out"
    fi
  done
done

# tied output, llama3 RoPE
for fmt in gguf hf; do
  p="$d/tied-$fmt"; [ "$fmt" = gguf ] && p="$p.gguf"
  $mk --format $fmt --tied --llama3-rope --out "$p" >/dev/null 2>&1
  out=$($show "$p" 2>&1)
  contains "$fmt tied: no output.weight, tied" "tied 1" "$out"
  case $out in *"tensor output.weight"*) not_ok "$fmt tied: output.weight absent" ;; *) ok "$fmt tied: output.weight absent" ;; esac
done
contains "gguf llama3 RoPE: rope_freqs.weight (f32, head_dim / 2) in the table" \
  "tensor rope_freqs.weight f32 [6,1,1,1]" "$($show "$d/tied-gguf.gguf" 2>&1)"
contains "hf llama3 RoPE: the scaling read from config.json" "llama3 factor=8 low=1 high=4 orig=32" \
  "$($show "$d/tied-hf" 2>&1)"

# GGUF version 2 (the same layout, 64-bit counts)
$mk --format gguf --gguf-version 2 --out "$d/v2.gguf" >/dev/null 2>&1
contains "a GGUF v2 file opens" "tensors 21" "$($show "$d/v2.gguf" 2>&1)"

# split sets
$mk --format gguf --split 3 --out "$d/split.gguf" >/dev/null 2>&1
for k in 1 2 3; do
  out=$($show "$d/split-0000$k-of-00003.gguf" 2>&1)
  contains "a split GGUF opens from part $k" "files 3" "$out"
done
contains "a split GGUF: every tensor" "tensors 21" "$out"
f1=$(printf '%s\n' "$out" | grep -c 'file=1'); f2=$(printf '%s\n' "$out" | grep -c 'file=2')
[ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && ok "a split GGUF: tensors in parts 2 and 3 ($f1, $f2)" || not_ok "split parts" "$f1 $f2"
rm "$d/split-00002-of-00003.gguf"
out=$($show "$d/split-00001-of-00003.gguf" 2>&1)
contains "a missing GGUF shard is refused naming it" "split-00002-of-00003.gguf: shard 2 of 3 of the split set is missing" "$out"
$mk --format hf --split 2 --out "$d/hfsplit" >/dev/null 2>&1
out=$($show "$d/hfsplit" 2>&1)
contains "a sharded HF model opens" "files 2" "$out"
rm "$d/hfsplit/model-00002-of-00002.safetensors"
out=$($show "$d/hfsplit" 2>&1)
contains "a missing HF shard is refused naming it" "model-00002-of-00002.safetensors: shard 2 of 2" "$out"
$mk --format hf --out "$d/notok" >/dev/null 2>&1
rm "$d/notok/tokenizer.json"
contains "an HF directory without tokenizer.json is refused" "tokenizer.json: missing" "$($show "$d/notok" 2>&1)"

# bad_model FORMAT KIND NEEDLE: the corrupt model is refused, saying NEEDLE
bad_model() {
  p="$d/bad-$1-$2"; [ "$1" = gguf ] && p="$p.gguf"
  if ! out=$($mk --format "$1" --corrupt "$2" --out "$p" 2>&1); then not_ok "mkmodel --corrupt $2" "$out"; return; fi
  out=$($show "$p" 2>&1); rc=$?
  if [ $rc -eq 1 ]; then contains "$1 $2 is refused: $3" "$3" "$out"; else not_ok "$1 $2 is refused" "status $rc: $out"; fi
}
bad_model gguf truncated-header "bad-gguf-truncated-header.gguf: key tokenizer.ggml.scores claims 459 elements, more than"
bad_model gguf truncated-data "extends past the end of the file"
bad_model gguf bad-magic "no GGUF magic"
bad_model gguf bad-version "GGUF version 7"
bad_model gguf huge-tensor-count "1152921504606846976 tensors cannot fit"
bad_model gguf huge-kv-count "1152921504606846976 metadata keys cannot fit"
bad_model gguf huge-string "claims 1099511627776 bytes"
bad_model gguf huge-array "key tokenizer.ggml.tokens claims 4611686018427387909 elements"
bad_model gguf bad-offset "tensor token_embd.weight (88128 bytes at data offset 1125899906842624) extends past"
bad_model gguf misaligned-offset "tensor token_embd.weight offset 8 is not a multiple of the alignment 32"
bad_model gguf unknown-type "tensor token_embd.weight has ggml type 2"
bad_model gguf shape "tensor blk.0.attn_q.weight has shape [48, 46] where the hyperparameters imply [48, 48]"
bad_model gguf missing-tensor "tensor blk.0.ffn_down.weight is missing"
bad_model gguf nested-array "key test.nested is an array of arrays"
bad_model gguf bad-token-id "BOS token id 459 is outside the vocabulary of 459 tokens"
bad_model gguf arch "architecture \"gpt2\" is not supported"
bad_model gguf arch-bytes 'architecture "\x1b[2Jllama\xff" is not supported'
bad_model gguf tokenizer-model "tokenizer model \"bert\" is not supported"
bad_model gguf duplicate-key "key llama.block_count appears twice"
bad_model gguf vocab-size "tensor token_embd.weight has shape [48, 460] where the hyperparameters imply [48, 459]"
bad_model gguf duplicate-tensor "tensor blk.0.attn_norm.weight appears twice"
bad_model hf duplicate-tensor "tensor blk.0.attn_norm.weight appears twice"
bad_model hf shape "tensor blk.0.ffn_gate.weight has shape [48, 80] where the hyperparameters imply [48, 82]"
bad_model hf rope-yarn "RoPE scaling \"yarn\" is not supported"
bad_model hf dtype "tensor model.layers.0.self_attn.q_proj.weight is I32"
bad_model hf arch "model_type \"gpt2\" is not supported"
bad_model hf vocab-size "the tokenizer has 459 tokens but the model's vocabulary is 460"
bad_model hf bad-json "tokenizer.json: bad JSON"
bad_model hf index-lies "model.safetensors.index.json: tensor model.norm.weight is not in model-00001-of-00002.safetensors"
bad_model hf huge-id "token id 16000000 is beyond the 463 tokens given"
