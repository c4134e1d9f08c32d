#!/bin/sh
# tb-inferd's /v1/models pins verified weights: an HF model with its
# manifest, served with verify, reports the manifests' hash as tb generate
# --verify --json does.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
d=$(mktemp -d /tmp/tb-serve-pin.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$d"; "$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state"' EXIT
inferd="$TB_BUILD/bin/tb-inferd"
hf="$d/hf"
python3 "$TB_SRC/tests/infer/mkmodel.py" --format hf --type f16 --vocab bpe --dim 32 --ffn 64 --heads 2 --kv-heads 2 \
  --layers 1 --ctx 128 --seed 3 --out "$hf" >/dev/null 2>&1 && "$tb" store manifest "$hf/model.safetensors" >/dev/null ||
  not_ok "an HF model with its manifest"
want=$("$tb" sim run -- "$TB_BUILD/bin/tb" generate "$hf" --prompt x --max-tokens 1 --gpus 1 --verify --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest_hash"])')
rm -f "$d/ports"
"$tb" sim run -- "$inferd" --config /dev/null "$hf" --gpus 1 --verify true --listen 127.0.0.1:0 --unix-socket "" \
  --port-file "$d/ports" >"$d/log2" 2>&1 &
pid=$!
for i in $(seq 300); do [ -s "$d/ports" ] && break; sleep 0.1; done
port=$(sed -n 's/^http 127.0.0.1://p' "$d/ports")
for i in $(seq 600); do
  st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health"); [ "$st" = 200 ] && break; sleep 0.2
done
got=$(curl -s "http://127.0.0.1:$port/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["manifest_hash"])')
[ -n "$want" ] && [ "$want" != None ] && equals "/v1/models: the verified weights' manifest hash, as tb generate says" "$want" "$got" ||
  not_ok "manifest hash" "tb generate: '$want', server: '$got'"
kill $pid; wait $pid; rc=$?
pid=
equals "SIGTERM stops it with status 0" 0 "$rc"
