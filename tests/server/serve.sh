#!/bin/sh
# tb-inferd on the simulated box, over loopback (serve.inc.sh starts it: a
# tiny model on one GPU, context 128, queue 1, a plain listener, a Unix
# socket and a 0.0.0.0 listener that must take TLS and an API key): the
# refusals at start, a load held by the box, a second daemon refused, a
# SIGKILLed one's stale socket replaced, the notifications, the API against
# tb generate, /metrics, every 400, 413.  serve_load.sh has the rest.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/server/serve.inc.sh"
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

# a load held by the box: GPU 0's next copy queue hangs, and the hang
# timeout is long, so the model stays loading as long as the test wants
"$tb" sim fault 0 sdma-hang >/dev/null
more="--hang-timeout-ms 600000 --request-timeout 600" start_inferd
got=$(curl -s -w ' %{http_code}' "$url/health")
contains "/health answers 503 'loading' while the model loads" '"status":"loading"' "$got"
contains "  ... with the load's progress" '"progress":' "$got"
got=$(curl -s -w ' %{http_code}' "$url/v1/completions" -d '{"prompt": "x"}')
contains "a generation meanwhile gets 503 'loading'" '"code":"loading"}} 503' "$got"
# a second daemon on the same socket or port is refused and the first keeps serving
out=$(timeout 30 "$inferd" --config /dev/null "$m" --listen "" --unix-socket "$d/inferd.sock" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a second daemon on the same Unix socket is refused" "another tb-inferd serves it" "$out" ||
  not_ok "a second daemon on the socket" "status $rc: $out"
out=$(timeout 30 "$inferd" --config /dev/null "$m" --listen "127.0.0.1:$port" --unix-socket "" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a second daemon on the same port is refused" "Address already in use" "$out" ||
  not_ok "a second daemon on the port" "status $rc: $out"
got=$(curl -s --unix-socket "$d/inferd.sock" http://x/health)
contains "  ... and the first one still answers on its socket" '"status":"loading"' "$got"
got=$(curl -s "$url/health")
contains "  ... and on its port" '"status":"loading"' "$got"
tap_run "" $client per-ip "$d/inferd.sock"
kill -KILL $pid; wait $pid 2>/dev/null
"$tb" sim fault clear >/dev/null
[ -S "$d/inferd.sock" ] && ! curl -s --unix-socket "$d/inferd.sock" http://x/health >/dev/null &&
  ok "a SIGKILLed daemon leaves a stale socket" || not_ok "the stale socket"

# the daemon again on the same port and socket, with a test NOTIFY_SOCKET and a 2 s watchdog
python3 - "$d/notify" "$d/notify.log" <<'EOF2' &
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
EOF2
npid=$!
for i in $(seq 50); do [ -S "$d/notify" ] && break; sleep 0.1; done
more= start_inferd NOTIFY_SOCKET="$d/notify" WATCHDOG_USEC=2000000
wait_ready
got=$(curl -s --unix-socket "$d/inferd.sock" http://x/health)
contains "the stale socket is replaced: the Unix socket answers" '"status":"ok"' "$got"
grep -q '^READY=1' "$d/notify.log" 2>/dev/null && ok "READY=1 reached the NOTIFY_SOCKET" ||
  not_ok "READY=1" "$(cat "$d/notify.log" 2>&1)"
for i in $(seq 100); do grep -q '^WATCHDOG=1' "$d/notify.log" && break; sleep 0.1; done
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

tap_run "" $client metrics-text
tap_run "" $client fields
tap_run "" $client limits
kill $npid 2>/dev/null
kill $pid; wait $pid; rc=$?
pid=
[ $rc -eq 0 ] && ! grep -q "ERROR: \(Address\|Undefined\|Leak\)Sanitizer" "$d/log" && ok "SIGTERM stops the daemon cleanly" ||
  not_ok "clean stop" "status $rc: $(tail -n 20 "$d/log")"

