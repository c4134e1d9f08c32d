#!/bin/sh
# The engine on the simulated box: a Hugging Face directory on 2 and 6 GPUs
# against the reference, and a hang injected on one GPU mid-generation.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/infer/engine.inc.sh"
run_model 2,6 "" hf bf16 spm 48 80 6 3 --tied
# a hang on GPU 2 mid-generation
model gguf f16 spm 48 80 6 2 && \
  tap_run "hang: " "$tb" sim run -- "$TB_BUILD/tests/test_engine" "$p" "$kern" 6 --hang 2 "$tb"
"$tb" sim fault clear >/dev/null 2>&1

# tb generate and tb chat as a user runs them
gen="$tb sim run -- $TB_BUILD/bin/tb generate"
out=$($gen "$p" --prompt "the cat" --max-tokens 12 --gpus 2 --json 2>&1); rc=$?
fields=$(printf '%s\n' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin); s = d["stats"]
print(len(d["tokens"]), s["generated_tokens"], s["gpus"], s["stop"] in ("length", "eos"), s["decode_tokens_per_s"] > 0,
      s["launches_per_token"] > 0, isinstance(d["text"], str))' 2>&1)
equals "tb generate --json: the tokens, the text and the figures" "12 12 2 True True True True" "$fields"
# an SDMA hang while loading: the load fails naming the GPU; once cleared, the GPUs load again
"$tb" sim fault 3 sdma-hang >/dev/null
out=$($gen "$p" --prompt x --max-tokens 1 2>&1); rc=$?
"$tb" sim fault clear >/dev/null
[ $rc -eq 1 ] && contains "a copy engine that hangs while loading is named" "GPU 3 failed while loading the weights" \
  "$out" || not_ok "SDMA hang while loading" "status $rc: $out"
for _ in $(seq 30); do $gen "$p" --prompt x --max-tokens 1 >/dev/null 2>&1 && break; sleep 1; done
out=$($gen "$p" --prompt x --max-tokens 1 2>&1); rc=$?
[ $rc -eq 0 ] && ok "after the fault is cleared, the model loads on every GPU again" || not_ok "load after clear" "status $rc: $out"

# --verify: the weights checked against their manifests, whose hash pins them
gg=$p; model hf bf16 spm 48 80 6 3 --tied; hf=$p; p=$gg
hash_of() { printf '%s\n' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("manifest_hash"))' 2>&1; }
for f in "$hf"/*.safetensors; do "$TB_BUILD/bin/tb" store manifest "$f" >/dev/null || not_ok "manifest $f"; done
h1=$(hash_of "$($gen "$hf" --prompt x --max-tokens 1 --gpus 1 --verify --json 2>&1)")
h0=$(hash_of "$($gen "$hf" --prompt x --max-tokens 1 --gpus 1 --json 2>&1)")
printf '%s' "$h1" | grep -Eqx '[0-9a-f]{16}' && [ "$h0" = None ] &&
  ok "--verify: the manifests' hash in the JSON (none without)" || not_ok "manifest hash" "'$h1' '$h0'"
f=$(ls "$hf"/*.safetensors | head -1); cp "$f" "$d/orig"
python3 -c 'import os, sys; f = open(sys.argv[1], "r+b"); f.seek(os.path.getsize(sys.argv[1]) - 3); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 1]))' "$f"
out=$($gen "$hf" --prompt x --max-tokens 1 --gpus 1 --verify 2>&1); rc=$?
[ $rc -eq 1 ] && contains "--verify: a flipped weight bit is refused" "do not match the manifest" "$out" ||
  not_ok "--verify refuses a changed file" "status $rc: $out"
"$TB_BUILD/bin/tb" store manifest "$f" >/dev/null
h2=$(hash_of "$($gen "$hf" --prompt x --max-tokens 1 --gpus 1 --verify --json 2>&1)")
[ -n "$h2" ] && [ "$h2" != "$h1" ] && ok "another file, another manifest hash" || not_ok "hash changes" "'$h1' '$h2'"
mv "$d/orig" "$f"
# by default the GPUs no other process holds: tb chat keeps GPU 0 while it waits for input
# (its first reply says it has loaded: it prints no banner when its input is not a terminal);
# its input a FIFO this script holds open, so it waits for more until killed
mkfifo "$d/chat.in"
setsid $tb sim run -- "$TB_BUILD/bin/tb" chat "$p" --gpus 1 --max-tokens 1 <"$d/chat.in" >"$d/holder.out" 2>&1 &
holder=$!
exec 9>"$d/chat.in"
echo hi >&9
for _ in $(seq 600); do [ -s "$d/holder.out" ] && break; sleep 0.1; done
out=$($gen "$p" --prompt x --max-tokens 2 --json 2>&1); rc=$?
n=$(printf '%s\n' "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["stats"]["gpus"])' 2>&1)
[ $rc -eq 0 ] && [ "$n" = 5 ] && ok "by default the 5 GPUs no other process holds" || not_ok "free GPUs" "status $rc: $n"
out=$($gen "$p" --prompt x --max-tokens 2 --gpus 6 2>&1); rc=$?
[ $rc -eq 1 ] && contains "--gpus 6 with one GPU held: refused, saying how many are free" "5 of the 6 are free" "$out" ||
  not_ok "--gpus 6 held" "status $rc: $out"
kill -KILL -- -"$holder" 2>/dev/null; exec 9>&-; wait "$holder" 2>/dev/null

# a sliding attention window (Mistral): the context stays inside it
for f in gguf hf; do
  sw="$d/sw-$f"; [ $f = gguf ] && sw="$sw.gguf"
  $mk --format $f --type f32 --vocab spm --dim 32 --ffn 48 --heads 4 --layers 1 --ctx 512 --sliding-window 48 \
      --out "$sw" >/dev/null 2>&1 || not_ok "mkmodel sliding window $f"
  out=$($gen "$sw" --prompt x --max-tokens 2 --gpus 1 --context 49 2>&1); rc=$?
  [ $rc -eq 1 ] && contains "$f: a context past the sliding window is refused" "takes 2 to 48 (its sliding" "$out" ||
    not_ok "$f: sliding window" "status $rc: $out"
  out=$($gen "$sw" --prompt x --max-tokens 2 --gpus 1 --context 48 2>&1 >/dev/null); rc=$?
  [ $rc -eq 0 ] && ok "$f: a context of the window's size generates" || not_ok "$f: context 48" "status $rc: $out"
done
out=$($gen "$p" --prompt "the cat" --max-tokens 12 --gpus 2 2>&1 >/dev/null); rc=$?
[ $rc -eq 0 ] && contains "tb generate ends with the first-token time and the tokens/s" "tokens/s" "$out" ||
  not_ok "tb generate's figures" "status $rc: $out"
out=$($gen "$p" --prompt x --top-k 1e3 2>&1); rc=$?
[ $rc -eq 2 ] && contains "numbers are parsed strictly" "--top-k '1e3': not a number" "$out" ||
  not_ok "strict numbers" "status $rc: $out"
out=$($gen "$p" 2>&1); rc=$?
[ $rc -eq 2 ] && contains "a prompt is needed" "--prompt TEXT is needed" "$out" || not_ok "no prompt" "status $rc: $out"
out=$($gen "$d/none.gguf" --prompt x 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a missing model is named" "none.gguf" "$out" || not_ok "missing model" "status $rc: $out"
out=$(printf 'hello\n/reset\nagain\n' | $tb sim run -- "$TB_BUILD/bin/tb" chat "$p" --gpus 1 --max-tokens 6 --temperature 0 2>&1); rc=$?
n=$(printf '%s\n' "$out" | grep -c .)
[ $rc -eq 0 ] && [ "$n" -ge 2 ] && ok "tb chat answers each line of its input" || not_ok "tb chat" "status $rc: $out"
