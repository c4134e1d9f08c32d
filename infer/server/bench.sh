#!/bin/sh
# make bench: tb-inferd under a bounded loopback load on a simulated box of
# its own, against tb generate on the same model in the same run.  One
# client alone, then 4 concurrent clients (2 streamed requests each): time
# to first token and per-token latency (p50/p99, as the client sees the SSE
# chunks), tokens/s through the server, and the server's overhead over
# tb generate's own first-token time and decode rate.  Never fails on timing.
build=${TB_BUILD:-build}
src=${TB_SRC:-.}
tb="$build/bin/tb"
state=$(mktemp -d /tmp/tb-bench-serve.XXXXXX)
export TB_SIM_STATE="$state/box"
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; "$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
"$tb" sim start >/dev/null || exit 1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
m="$state/m.gguf"
python3 "$src/tests/infer/mkmodel.py" --format gguf --type f16 --vocab bpe --dim 128 --ffn 344 --heads 4 \
  --kv-heads 2 --layers 2 --ctx 512 --seed 5 --out "$m" >/dev/null || exit 1
prompt="the quick brown fox jumps over the lazy dog"
tokens=24
"$tb" sim run -- "$tb" generate "$m" --prompt "$prompt" --max-tokens $tokens --gpus 1 --json >"$state/gen.json" || exit 1
"$tb" sim run -- "$build/bin/tb-inferd" --config /dev/null "$m" --gpus 1 --listen 127.0.0.1:0 --unix-socket "" \
  --queue 8 --port-file "$state/ports" >"$state/log" 2>&1 &
pid=$!
python3 - "$state/ports" "$state/gen.json" "$prompt" $tokens <<'PY'
import json, socket, statistics, sys, threading, time, urllib.request
ports, gen, prompt, ntok = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(600):
    try:
        port = int(open(ports).read().split()[1].rsplit(":", 1)[1])
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200:
            break
    except Exception:
        pass
    time.sleep(0.2)
else:
    sys.exit("tb-inferd did not become ready")

seq = iter(range(1000))
def stream():
    """One streamed completion: (time to first token, [gaps between chunks], chunks).  Each prompt
    begins differently, so no request reuses the KV cache of the one before."""
    body = json.dumps({"prompt": f"{next(seq)} {prompt}", "max_tokens": ntok, "temperature": 0, "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    buf, times = b"", []
    while b"data: [DONE]" not in buf:
        c = s.recv(65536)
        if not c:
            break
        now = time.monotonic()
        times += [now] * c.count(b'"text":"')
        buf += c
    s.close()
    return times[0] - t0, [b - a for a, b in zip(times, times[1:])], len(times)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")

g = json.load(open(gen))["stats"]
stream()  # the server's first request records the decode step, as tb generate's does
print(f"tb generate: first token {g['first_token_s']:.3f} s, decode {g['decode_tokens_per_s']:.2f} tokens/s "
      f"({1 / g['decode_tokens_per_s'] * 1000:.0f} ms/token), {g['generated_tokens']} tokens")
ttft, gaps, n = stream()
print(f"tb-inferd, 1 client: first token {ttft:.3f} s (+{(ttft - g['first_token_s']) * 1000:.0f} ms over tb generate), "
      f"per token p50 {pct(gaps, 50) * 1000:.0f} ms p99 {pct(gaps, 99) * 1000:.0f} ms "
      f"(+{(pct(gaps, 50) - 1 / g['decode_tokens_per_s']) * 1000:.1f} ms at p50), {n} chunks")
results, lock = [], threading.Lock()
def client():
    for _ in range(2):
        r = stream()
        with lock:
            results.append(r)
t0 = time.monotonic()
th = [threading.Thread(target=client) for _ in range(4)]
for t in th:
    t.start()
for t in th:
    t.join()
wall = time.monotonic() - t0
ttfts = [r[0] for r in results]
gaps = [x for r in results for x in r[1]]
total = sum(r[2] for r in results)
print(f"tb-inferd, 4 clients x 2 requests (one slot, FIFO): first token p50 {pct(ttfts, 50):.2f} s p99 "
      f"{pct(ttfts, 99):.2f} s (queueing included), per token p50 {pct(gaps, 50) * 1000:.0f} ms p99 "
      f"{pct(gaps, 99) * 1000:.0f} ms, {total} tokens in {wall:.1f} s = {total / wall:.2f} tokens/s "
      f"(tb generate alone: {g['decode_tokens_per_s']:.2f})")
PY
