#!/bin/sh
# tb-inferd under pressure, on its own box (serve.inc.sh starts it): 429 on
# a full queue, keep-alive, a disconnect cancels, hostile clients hold only
# their own connections for a bounded time, the TLS + key listener, a GPU
# hang mid-stream and the recovery, SIGKILL mid-stream and a restart.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/server/serve.inc.sh"
start_inferd
wait_ready
want=$(curl -s "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0}' |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["text"]))')
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

# a GPU at its critical junction temperature, then cooled again
"$tb" sim fault 3 thermal-runaway >/dev/null
for i in $(seq 300); do got=$(curl -s -w ' %{http_code}' "$url/health"); [ "${got##* }" = 503 ] && break; sleep 0.1; done
contains "a GPU over its thermal limit: /health 503 naming it" 'GPU card3 is over its thermal limit' "$got"
"$tb" sim fault clear >/dev/null
wait_ready

# SIGKILL mid-stream: the client's stream ends without [DONE]; a new
# daemon on the same port and socket generates the same text
curl -sN "$url/v1/completions" -d '{"prompt": "the cat", "max_tokens": 40, "stream": true}' >"$d/kill.out" &
cpid=$!
for i in $(seq 300); do grep -q '"text"' "$d/kill.out" && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null
wait $cpid
grep -q '"text"' "$d/kill.out" && ! grep -q '\[DONE\]' "$d/kill.out" && ok "SIGKILL mid-stream: the stream ends unfinished" ||
  not_ok "SIGKILL mid-stream" "$(tail -c 300 "$d/kill.out")"
start_inferd
wait_ready
got=$(curl -s --unix-socket "$d/inferd.sock" http://x/v1/completions -d '{"prompt": "the cat", "max_tokens": 6, "temperature": 0}' |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["text"]))')
equals "  ... and the restarted daemon generates the same text, on the same socket" "$want" "$got"

kill $pid; wait $pid; rc=$?
pid=
[ $rc -eq 0 ] && ! grep -q "ERROR: \(Address\|Undefined\|Leak\)Sanitizer" "$d/log" && ok "SIGTERM stops the daemon cleanly" ||
  not_ok "clean stop" "status $rc: $(tail -n 20 "$d/log")"
