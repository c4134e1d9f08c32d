#!/bin/sh
# tb-inferd on the simulated box, over loopback: one daemon (a tiny model on
# one GPU, context 128, queue 1) with a plain listener, a Unix socket and a
# 0.0.0.0 listener that must take TLS and an API key; clients are curl and
# tests/server/client.py.  Every port is chosen by the kernel (port 0) and
# read back from the daemon's port_file.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
start_box
d=$(mktemp -d /tmp/tb-serve.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$d"; "$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state"' EXIT
client="python3 $TB_SRC/tests/server/client.py $d/ports"
inferd="$TB_BUILD/bin/tb-inferd"
m="$d/m.gguf"
python3 "$TB_SRC/tests/infer/mkmodel.py" --format gguf --type f16 --vocab spm --dim 48 --ffn 80 --heads 6 \
  --kv-heads 2 --layers 2 --ctx 512 --seed 11 --out "$m" >/dev/null 2>&1 || { not_ok "mkmodel"; exit 1; }

# refusals before anything is loaded (exit 2, a clear message)
out=$("$inferd" --config /dev/null "$m" --listen 0.0.0.0:0 2>&1); rc=$?
[ $rc -eq 2 ] && contains "a listener off loopback without TLS and keys is refused" "needs tls_cert, tls_key and api_keys" "$out" ||
  not_ok "off-loopback refusal" "status $rc: $out"
printf '[inferd]\nqueue = 8\nqueue = lots\n' >"$d/bad.conf"
out=$("$inferd" --config "$d/bad.conf" "$m" 2>&1); rc=$?
[ $rc -eq 2 ] && contains "a bad config value is named by FILE:LINE" "bad.conf:3: queue 'lots': not a number" "$out" ||
  not_ok "config FILE:LINE" "status $rc: $out"
out=$("$inferd" --config /dev/null "$m" --max-body 1x 2>&1); rc=$?
[ $rc -eq 2 ] && contains "a bad option is named" '--max_body: max_body '"'"'1x'"'"': not a number' "$out" || not_ok "bad option" "status $rc: $out"

# an API key, its hash stored 0600; a certificate for 127.0.0.1
key=$("$inferd" keygen --api-keys "$d/keys" --name test 2>/dev/null)
mode=$(stat -c %a "$d/keys")
case $key in tb-????????????????????????????????????????????????????????????????)
  [ "$mode" = 600 ] && ! grep -q "$key" "$d/keys" && ok "keygen prints a key once and stores only its hash, 0600" ||
    not_ok "keygen" "mode $mode" ;;
  *) not_ok "keygen" "key '$key'" ;;
esac
chmod 644 "$d/keys"
out=$("$inferd" --config /dev/null "$m" --check --api-keys "$d/keys" 2>&1); rc=$?
[ $rc -eq 2 ] && contains "a keys file others can read is refused" "it must be 0600" "$out" || not_ok "keys mode" "status $rc: $out"
chmod 600 "$d/keys"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/tls.key" -out "$d/tls.crt" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || not_ok "openssl makes a certificate"

# the daemon, with a test NOTIFY_SOCKET and a 2 s watchdog
python3 - "$d/notify" "$d/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(240)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
            log.flush()
    except OSError:
        pass
EOF
for i in $(seq 50); do [ -S "$d/notify" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$d/notify" WATCHDOG_USEC=2000000 "$tb" sim run -- "$inferd" --config /dev/null "$m" --gpus 1 \
  --context 128 --queue 1 --listen 127.0.0.1:0,0.0.0.0:0 --unix-socket "$d/inferd.sock" --tls-cert "$d/tls.crt" \
  --tls-key "$d/tls.key" --api-keys "$d/keys" --hang-timeout-ms 2000 --connection-timeout 20 \
  --port-file "$d/ports" >"$d/log" 2>&1 &
pid=$!
for i in $(seq 300); do [ -s "$d/ports" ] && break; sleep 0.1; done
port=$(sed -n 's/^http 127.0.0.1://p' "$d/ports")
tport=$(sed -n 's/^https 0.0.0.0://p' "$d/ports")
[ -n "$port" ] && [ -n "$tport" ] && ok "the daemon listens (ports $port and $tport, chosen by the kernel)" ||
  { not_ok "the daemon listens" "$(cat "$d/log")"; exit 1; }
url="http://127.0.0.1:$port"

# /health: 503 with the progress while loading, then 200
first=$(curl -s -w ' %{http_code}' "$url/health")
contains "/health answers 503 'loading' while the model loads and warms up" '"status":"loading"' "$first"
contains "  ... with the load's progress" '"progress":' "$first"
for i in $(seq 600); do
  st=$(curl -s -o /dev/null -w '%{http_code}' "$url/health"); [ "$st" = 200 ] && break; sleep 0.2
done
equals "/health turns 200 once ready" 200 "$st"
grep -q '^READY=1' "$d/notify.log" 2>/dev/null && ok "READY=1 reached the NOTIFY_SOCKET" ||
  not_ok "READY=1" "$(cat "$d/notify.log" 2>&1)"
sleep 3
grep -q '^WATCHDOG=1' "$d/notify.log" && ok "WATCHDOG=1 follows while both sides are alive" ||
  not_ok "WATCHDOG=1" "$(cat "$d/notify.log")"
grep -q '^STATUS=ready' "$d/notify.log" && ok "STATUS= lines say what the daemon does" || not_ok "STATUS" "$(cat "$d/notify.log")"

# the same tokens as tb generate at temperature 0
want=$("$tb" sim run -- "$TB_BUILD/bin/tb" generate "$m" --prompt "the cat" --max-tokens 6 --gpus 1 --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["text"]))')
got=$(curl -s "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0}' |
  python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["choices"][0]
print(json.dumps(c["text"]), c["finish_reason"], d["usage"]["completion_tokens"], d["object"])')
equals "curl /v1/completions: tb generate's text at temperature 0, finish_reason and usage" \
  "$want length 6 text_completion" "$got"
got=$(curl -sN "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0, "stream": true,
  "stream_options": {"include_usage": true}}' | python3 -c '
import json, sys
ev = [l[6:] for l in sys.stdin.read().split("\n\n") if l.startswith("data: ")]
assert ev[-1] == "[DONE]", ev
ch = [json.loads(e) for e in ev[:-1]]
text = "".join(c["choices"][0]["text"] for c in ch if c["choices"])
fin = [c["choices"][0]["finish_reason"] for c in ch if c["choices"] and c["choices"][0]["finish_reason"]]
print(json.dumps(text), fin[0], ch[-1]["usage"]["completion_tokens"])')
equals "curl streaming /v1/completions: the same text in SSE chunks, [DONE], include_usage" "$want length 6" "$got"
chat='{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0'
whole=$(curl -s "$url/v1/chat/completions" -d "$chat}" | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["choices"][0]
print(json.dumps(c["message"]["content"]), c["message"]["role"], c["finish_reason"], d["usage"]["completion_tokens"], d["object"])')
streamed=$(curl -sN "$url/v1/chat/completions" -d "$chat, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" | python3 -c '
import json, sys
ev = [l[6:] for l in sys.stdin.read().split("\n\n") if l.startswith("data: ")]
ch = [json.loads(e) for e in ev[:-1]]
d = [c["choices"][0]["delta"] for c in ch if c["choices"]]
fin = [c["choices"][0]["finish_reason"] for c in ch if c["choices"] and c["choices"][0]["finish_reason"]]
print(json.dumps("".join(x.get("content", "") for x in d)), d[0]["role"], fin[0], ch[-1]["usage"]["completion_tokens"],
      ch[0]["object"].replace(".chunk", ""), ev[-1])')
case $whole in '"'*' assistant '[sl]*' chat.completion')
  equals "curl chat completions, streamed and whole: the same reply, role, finish_reason and usage" "$whole [DONE]" "$streamed" ;;
  *) not_ok "curl /v1/chat/completions" "$whole" ;;
esac
got=$(curl -s "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0, "stop": ["zN"]}' |
  python3 -c 'import json,sys; c=json.load(sys.stdin)["choices"][0]; print(json.dumps(c["text"]), c["finish_reason"])')
stopped=$(printf '%s' "$want" | python3 -c 'import json,sys; t=json.loads(sys.stdin.read()); i=t.find("zN")
print(json.dumps(t[:i]) if i >= 0 else "no zN in " + json.dumps(t), "stop")')
equals "a stop string ends the text before it, finish_reason stop" "$stopped" "$got"
got=$(curl -s "$url/v1/models" | python3 -c 'import json,sys; d=json.load(sys.stdin); m=d["data"][0]
print(d["object"], m["id"], m["object"], "manifest_hash" in m, m["context_length"])')
equals "/v1/models: the OpenAI list with the model's id, its pin and context" "list tiny-spm-f16 model True 128" "$got"
got=$(curl -s --unix-socket "$d/inferd.sock" http://x/health)
contains "the Unix socket answers" '"status":"ok"' "$got"

tap_run "" $client metrics-text
tap_run "" $client fields
tap_run "" $client limits
tap_run "" $client queue
tap_run "" $client cancel
tap_run "" $client stuck

# the 0.0.0.0 listener: HTTPS only, and a key for everything (open_health is off)
turl="https://127.0.0.1:$tport"
st=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls.crt" "$turl/v1/models")
equals "off loopback: 401 without a key" 401 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls.crt" -H "Authorization: Bearer tb-0000" "$turl/v1/models")
equals "off loopback: 401 with a wrong key" 401 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls.crt" "$turl/health")
equals "off loopback: /health needs the key too unless open_health" 401 "$st"
got=$(curl -s --cacert "$d/tls.crt" -H "Authorization: Bearer $key" "$turl/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
equals "off loopback: 200 over TLS with the key" tiny-spm-f16 "$got"
st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$tport/v1/models")
[ "$st" != 200 ] && ok "off loopback: plain HTTP gets no answer ($st)" || not_ok "plain HTTP on the TLS port" "$st"

# a hang on the GPU mid-generation: an error event then [DONE], /health 503
# naming the GPU while the engine is closed and reopened (on the box a hung
# queue stays hung; the engine's new queues work), then 200
$client watch-health >"$d/watch.out" 2>&1 &
wpid=$!
curl -sN "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 40, "stream": true}' >"$d/hang.out" &
cpid=$!
for i in $(seq 300); do grep -q '"text"' "$d/hang.out" && break; sleep 0.1; done
"$tb" sim fault 0 hang >/dev/null 2>&1
wait $cpid
got=$(python3 -c '
import json, sys
ev = [l[6:] for l in open(sys.argv[1]).read().split("\n\n") if l.startswith("data: ")]
err = [json.loads(e)["error"] for e in ev[:-1] if "error" in json.loads(e)]
print(ev[-1], err[0]["code"] if err else "no error event", "GPU 0" in (err[0]["message"] if err else ""))' "$d/hang.out")
equals "a hang mid-stream: an error event naming GPU 0, then [DONE]" "[DONE] gpu_failed True" "$got"
st=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/models")
equals "the daemon keeps answering" 200 "$st"
wait $wpid
tap_run "" cat "$d/watch.out"
"$tb" sim fault clear >/dev/null 2>&1
got=$(curl -s "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0}' |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["text"]))')
equals "  ... and generates the same text again" "$want" "$got"
got=$(curl -s "$url/metrics" | sed -n 's/^tb_inferd_gpu_failures_total //p')
equals "/metrics counts the GPU failure" 1 "$got"

kill $pid; wait $pid; rc=$?
pid=
[ $rc -eq 0 ] && ! grep -q "ERROR: \(Address\|Undefined\|Leak\)Sanitizer" "$d/log" && ok "SIGTERM stops the daemon cleanly" ||
  not_ok "clean stop" "status $rc: $(tail -n 20 "$d/log")"

