#!/usr/bin/env python3
"""tb-inferd's tests as a client sees them (python3's own HTTP client and
raw sockets): prints TAP lines for tests/server/serve.sh.

  client.py PORT_FILE CHECK [ARGS]
  CHECK: fields | limits | queue | cancel | stuck | per-ip SOCKET | watch-health | metrics-text
"""
import http.client
import json
import re
import socket
import sys
import threading
import time

n = 0
failed = 0


def ok(cond, name, why=""):
    global n, failed
    n += 1
    if cond:
        print(f"ok {n} - {name}")
    else:
        failed += 1
        print(f"not ok {n} - {name}")
        if why:
            print("# " + str(why)[:600].replace("\n", " "))
    sys.stdout.flush()


def ports(path):
    out = {}
    for line in open(path):
        scheme, addr = line.split()
        out.setdefault(scheme, []).append(addr)
    return out


def plain_port(path):
    for a in ports(path)["http"]:
        if a.startswith("127."):
            return int(a.rsplit(":", 1)[1])
    raise SystemExit("no plain loopback listener in " + path)


def request(port, method, path, body=None, headers=None, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read()
    c.close()
    try:
        j = json.loads(text)
    except ValueError:
        j = None
    return r.status, dict(r.getheaders()), j, text


def metric(port, name):
    _, _, _, text = request(port, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


CHAT = "/v1/chat/completions"
COMP = "/v1/completions"
MSG = [{"role": "user", "content": "hello"}]
ORIGIN = "http://laptop.example"		# serve.inc.sh's cors_origins


def fields(port):
    """400 for each bad field, with the field named; unknown fields ignored."""
    cases = [
        (CHAT, {"messages": MSG, "temperature": 3}, "temperature"),
        (CHAT, {"messages": MSG, "temperature": "hot"}, "temperature"),
        (CHAT, {"messages": MSG, "top_p": 0}, "top_p"),
        (CHAT, {"messages": MSG, "top_p": 1.5}, "top_p"),
        (CHAT, {"messages": MSG, "max_tokens": 0}, "max_tokens"),
        (CHAT, {"messages": MSG, "max_tokens": 2.5}, "max_tokens"),
        (CHAT, {"messages": MSG, "max_tokens": "5"}, "max_tokens"),
        (CHAT, {"messages": MSG, "max_tokens": 2**40}, "max_tokens"),
        (CHAT, {"messages": MSG, "max_completion_tokens": -1}, "max_completion_tokens"),
        (CHAT, {"messages": MSG, "seed": -1}, "seed"),
        (CHAT, {"messages": MSG, "seed": 1e30}, "seed"),
        (CHAT, {"messages": MSG, "top_k": 1000}, "top_k"),
        (CHAT, {"messages": MSG, "n": 2}, "n"),
        (CHAT, {"messages": MSG, "stream": "yes"}, "stream"),
        (CHAT, {"messages": MSG, "stream_options": 1}, "stream_options"),
        (CHAT, {"messages": MSG, "stop": 5}, "stop"),
        (CHAT, {"messages": MSG, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (CHAT, {"messages": MSG, "stop": [""]}, "stop"),
        (CHAT, {"messages": MSG, "model": 7}, "model"),
        (CHAT, {"messages": "hello"}, "messages"),
        (CHAT, {"messages": []}, "messages"),
        (CHAT, {"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages"),
        (CHAT, {"messages": [{"role": "user"}]}, "messages"),
        (CHAT, {"messages": ["x"]}, "messages"),
        (CHAT, {"messages": MSG * 1025}, "messages"),
        (CHAT, {}, "messages"),
        (CHAT, [1, 2], None),
        (COMP, {"prompt": 5}, "prompt"),
        (COMP, {}, "prompt"),
        (COMP, {"prompt": ["a", "b"]}, "prompt"),
    ]
    for path, body, param in cases:
        st, _, j, text = request(port, "POST", path, body)
        e = (j or {}).get("error", {}) if isinstance(j, dict) else {}
        good = st == 400 and e.get("type") == "invalid_request_error" and e.get("param") == param
        ok(good, f"400 naming {param or 'the body'}: {json.dumps(body)[:70]}", f"{st} {text[:300]}")
    raw = [(b"{not json", "not JSON"), (b"[" * 100 + b"]" * 100, "nested 100 deep"),
           (b'{"messages": [], "messages": []}', "a duplicated key"), (b"", "an empty body")]
    for body, name in raw:
        st, _, j, text = request(port, "POST", CHAT, body)
        ok(st == 400 and j["error"]["type"] == "invalid_request_error", f"400 for {name}", f"{st} {text[:200]}")
    st, _, j, text = request(port, "POST", CHAT, {"messages": [{"role": "user", "content": "x" * 600000}]})
    ok(st == 400 and "limit of characters" in j["error"]["message"], "400 for a prompt over max_chars",
       f"{st} {text[:200]}")
    st, _, j, text = request(port, "POST", COMP, {"prompt": "the cat " * 60, "max_tokens": 2})
    ok(st == 400 and j["error"]["code"] == "context_length_exceeded", "a prompt longer than the context: "
       "context_length_exceeded", f"{st} {text[:300]}")
    for path, body in ((COMP, {"prompt": "the cat " * 60, "stream": True}),
                       (CHAT, {"messages": [{"role": "user", "content": "the cat " * 60}], "stream": True})):
        st, h, j, text = request(port, "POST", path, body)
        ok(st == 400 and h.get("Content-Type") == "application/json" and
           j["error"]["code"] == "context_length_exceeded",
           f"streamed, too long for the context: a plain 400 before any stream ({path})", f"{st} {h} {text[:300]}")
    st, _, j, text = request(port, "POST", COMP, {"prompt": "the cat", "max_tokens": 100000})
    ok(st == 400 and j["error"]["code"] == "context_length_exceeded", "max_tokens past the context's end: "
       "context_length_exceeded", f"{st} {text[:300]}")
    st, _, j, text = request(port, "POST", COMP, {"prompt": "the cat", "max_tokens": 1, "temperature": 0,
                                                  "some_future_field": {"x": [1]}, "logit_bias": {}})
    ok(st == 200 and j["usage"]["completion_tokens"] == 1, "unknown fields are ignored", f"{st} {text[:300]}")
    acao = "Access-Control-Allow-Origin"
    _, h, _, _ = request(port, "GET", "/v1/models", headers={"Origin": ORIGIN})
    _, h2, _, _ = request(port, "GET", "/v1/models", headers={"Origin": "http://elsewhere.example"})
    ok(h.get(acao) == ORIGIN and acao not in h2, "CORS headers for the listed origin only", (h, h2))
    st, h, _, _ = request(port, "OPTIONS", CHAT, headers={"Origin": ORIGIN})
    ok(st == 204 and h.get("Access-Control-Allow-Methods") == "POST", "  ... and its preflight", (st, h))
    st, _, j, _ = request(port, "GET", "/v2/nothing")
    ok(st == 404 and j["error"]["code"] == "not_found", "404 for an unknown path", st)
    st, h, j, _ = request(port, "GET", CHAT)
    ok(st == 405 and h.get("Allow") == "POST", "405 with Allow for GET on a POST endpoint", (st, h))


def raw(port, data):
    """Sends data on a socket of its own (the server may answer and close
    before it has all of it, so sending can fail): the status and text read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = b""
    try:
        while True:
            part = sock.recv(65536)
            if not part:
                break
            got += part
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    line = got.split(b"\r\n", 1)[0].split()
    st = int(line[1]) if len(line) >= 2 and line[1].isdigit() else "no answer: %r" % got[:100]
    return st, got.decode("utf-8", "replace")


def limits(port):
    """413 for a body over max_body, declared or chunked."""
    big = json.dumps({"prompt": "x" * (1200 * 1024)}).encode()
    st, text = raw(port, ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n" % (COMP, len(big))).encode() + big)
    ok(st == 413 and '"request_too_large"' in text, "413 for a 1.2 MiB body", f"{st} {text[:200]}")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.putrequest("POST", COMP)
    c.putheader("Transfer-Encoding", "chunked")
    c.putheader("Content-Type", "application/json")
    c.endheaders()
    try:
        for i in range(0, len(big), 65536):
            part = big[i:i + 65536]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        st = r.status
    except (BrokenPipeError, ConnectionResetError) as e:
        st = str(e)
    ok(st == 413, "413 for a chunked body that grows over max_body", st)


def stream_open(port, path, body):
    """A raw HTTP/1.1 streaming request: the socket, after the headers."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    data = json.dumps(body).encode()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" %
              (path.encode(), len(data), data))
    return s


def read_events(s, count):
    """Reads until count SSE data events arrived: their payloads."""
    buf = b""
    events = []
    while len(events) < count:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
        events = re.findall(rb"data: (.*?)\n\n", buf)
    return events


def wait_metric(port, name, pred, secs=120):
    end = time.time() + secs
    while time.time() < end:
        v = metric(port, name)
        if v is not None and pred(v):
            return v
        time.sleep(0.3)
    return metric(port, name)


def queue(port):
    """queue = 1: a busy slot plus one waiting; the third request gets 429."""
    # as long as the context allows (128 tokens): it must outlast the waiting one's
    # first keep-alive (2 s); the tiny model's 50 tokens did not always
    busy = stream_open(port, COMP, {"prompt": "the cat", "max_tokens": 120, "stream": True, "temperature": 0})
    ev = read_events(busy, 2)
    ok(len(ev) >= 1, "a long stream holds the slot", ev)
    waiting = stream_open(port, COMP, {"prompt": "a dog", "max_tokens": 50, "stream": True})
    q = wait_metric(port, "tb_inferd_requests_queued", lambda v: v >= 1, 60)
    ok(q == 1, "the second request waits in the queue", q)
    st, h, j, text = request(port, "POST", COMP, {"prompt": "x", "max_tokens": 1})
    ok(st == 429 and "Retry-After" in h and j["error"]["code"] == "queue_full",
       "the third gets 429 with Retry-After", f"{st} {h} {text[:200]}")
    st, _, j, text = request(port, "POST", COMP, {"prompt": "the cat " * 60, "stream": True})
    ok(st == 400 and j["error"]["code"] == "context_length_exceeded",
       "  ... but a prompt too long for the context gets its 400 at once, not a place in the queue", f"{st} {text[:200]}")
    waiting.settimeout(60)
    got = b""
    try:
        while b": keep-alive" not in got:
            c = waiting.recv(4096)
            if not c:
                break
            got += c
    except OSError:
        pass
    ok(b"HTTP/1.1 200" in got and b": keep-alive\n\n" in got and b"data:" not in got,
       "the waiting stream gets SSE keep-alive comments", got[:300])
    rej = metric(port, "tb_inferd_rejected_total{reason=\"queue_full\"}")
    ok(rej is not None and rej >= 1, "/metrics counts the queue_full rejection", rej)
    busy.close()
    waiting.close()
    p = wait_metric(port, "tb_inferd_requests_processing", lambda v: v == 0, 120)
    q = metric(port, "tb_inferd_requests_queued")
    ok(p == 0 and q == 0, "both leave the slot and the queue when their clients hang up", (p, q))


def cancel(port):
    """A client that disconnects mid-stream stops its generation."""
    before = metric(port, "tb_inferd_requests_cancelled_total")
    s = stream_open(port, COMP, {"prompt": "the cat", "max_tokens": 100, "stream": True, "temperature": 0})
    ev = read_events(s, 3)
    ok(len(ev) == 3, "the stream is under way", ev)
    s.close()
    after = wait_metric(port, "tb_inferd_requests_cancelled_total", lambda v: v > before, 120)
    ok(after == before + 1, "the generation is cancelled once the client is gone", (before, after))
    g1 = metric(port, "tb_inferd_generated_tokens_total")
    time.sleep(1)
    g2 = metric(port, "tb_inferd_generated_tokens_total")
    ok(g1 == g2 and metric(port, "tb_inferd_requests_processing") == 0,
       "the tokens counter stops (nothing generates for it any more)", (g1, g2))


class Dripper(threading.Thread):
    """Sends head, then a byte every 0.3 s until the server closes the connection."""

    def __init__(self, port, head):
        super().__init__()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=0.3)
        self.sock.sendall(head)
        self.closed = self.answer = None
        self.start()

    def run(self):
        end = time.time() + 60
        while time.time() < end:
            try:
                self.sock.send(b"a")
                got = self.sock.recv(100)
                if got:
                    self.answer = got[:40]
                break
            except socket.timeout:
                continue
            except OSError:
                break
        self.closed = time.time() < end
        self.sock.close()


def stuck(port):
    """Hostile clients hold only their own connections, each for a bounded time."""
    before = metric(port, 'tb_inferd_rejected_total{reason="timeout"}')
    never = socket.socket()
    never.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    never.connect(("127.0.0.1", port))
    data = json.dumps({"prompt": "the cat", "max_tokens": 4, "stream": True}).encode()
    never.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
    body = Dripper(port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
    head = Dripper(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    st, _, j, _ = request(port, "GET", "/health", timeout=10)
    ok(st == 200, "/health answers while a client never reads, one trickles its body, one its headers", st)
    st, _, j, _ = request(port, "GET", "/v1/models", timeout=10)
    ok(st == 200 and j["data"], "/v1/models answers too", st)
    body.join()
    head.join()
    ok(body.closed and head.closed and body.answer is None and head.answer is None,
       "the trickled body and headers are cut off at request_timeout", (body.closed, head.closed))
    after = metric(port, 'tb_inferd_rejected_total{reason="timeout"}')
    ok(None not in (before, after) and after == before + 2, "/metrics counts them as timeouts", (before, after))
    never.settimeout(60)
    got = b""
    try:
        while True:
            part = never.recv(65536)
            if not part:
                break
            got += part
    except OSError as e:
        got += str(e).encode()
    ok(b"data: [DONE]" in got and got.endswith(b"\r\n0\r\n\r\n"), "the never-reading client is let go "
       "(closed by the server)", got[-100:])
    p = wait_metric(port, "tb_inferd_requests_processing", lambda v: v == 0, 120)
    ok(p == 0, "  ... and its generation is over", p)
    big = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: %s\r\n" % (b"b" * 1000) * 400 + b"\r\n"
    st, text = raw(port, big)
    ok(st == 431, "400 KiB of headers: 431", f"{st} {text[:100]}")


def per_ip(port, sock_path):
    """per_ip_connections held open from one address: one more is turned away, the Unix socket still answers."""
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(6)]
    st, text = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    ok(not isinstance(st, int), "one connection over per_ip_connections is closed unanswered", f"{st} {text[:100]}")
    u = socket.socket(socket.AF_UNIX)
    u.connect(sock_path)
    u.sendall(b"GET /health HTTP/1.0\r\n\r\n")
    got = u.recv(100)
    ok(got.startswith(b"HTTP/1.1 503"), "  ... while the Unix socket answers", got)
    for h in held:
        h.close()
    for _ in range(100):
        st, _ = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if st == 503:
            break
        time.sleep(0.2)
    ok(st == 503, "  ... and the port answers again once they close", st)


def watch_health(port):
    """/health through a GPU failure: 503 naming the GPU, then 200 once the engine is open again."""
    seen, end = [], time.time() + 240
    while time.time() < end:
        try:
            st, _, j, _ = request(port, "GET", "/health", timeout=10)
        except OSError as e:
            st, j = str(e), {}
        if not seen or seen[-1][0] != st:
            seen.append((st, (j or {}).get("message", "")))
        if st == 200 and any(x[0] == 503 for x in seen):
            break
        time.sleep(0.05)
    bad = [x for x in seen if x[0] == 503]
    ok(bad and "GPU 0" in bad[0][1], "/health turns 503 naming the failed GPU", seen)
    ok(seen[-1][0] == 200 and len(bad) > 0, "/health is 200 again once the engine reopened", seen)
    st, _, j, _ = request(port, "GET", "/health")
    ok("GPU 0" in j.get("last_failure", ""), "/health keeps the last failure for the operator", j)


def metrics_text(port):
    """/metrics parses as Prometheus text: HELP and TYPE for each family, counters named _total."""
    _, h, _, text = request(port, "GET", "/metrics")
    types, bad = {}, []
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? '
                        r'(-?[0-9.e+-]+|NaN|\+Inf)$')
    samples = 0
    for line in text.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line.startswith("# HELP ") or not line:
            continue
        else:
            m = sample.match(line)
            if not m:
                bad.append(line)
                continue
            samples += 1
            fam = m.group(1)
            for suffix in ("_sum", "_count"):
                if fam.endswith(suffix) and fam[:-len(suffix)] in types:
                    fam = fam[:-len(suffix)]
            if fam not in types:
                bad.append("no TYPE: " + line)
            elif types[fam] == "counter" and not fam.endswith("_total"):
                bad.append("counter without _total: " + fam)
    ok(not bad and samples > 10 and h.get("Content-Type", "").startswith("text/plain"),
       f"/metrics: {samples} samples in Prometheus text format", bad[:5])
    temps = re.findall(r'tb_inferd_gpu_temperature_celsius\{card="card\d+",sensor="junction"\} ([0-9.]+)', text.decode())
    caps = re.findall(r'tb_inferd_gpu_power_cap_watts\{card="card\d+"\} ([0-9.]+)', text.decode())
    ok(len(temps) == 6 and len(caps) == 6 and all(20 < float(t) < 120 for t in temps) and
       all(float(c) > 50 for c in caps), "each of the box's 6 GPUs: junction temperature and power cap",
       (temps, caps))


if __name__ == "__main__":
    port = plain_port(sys.argv[1])
    globals()[sys.argv[2].replace("-", "_")](port, *sys.argv[3:])
    print(f"1..{n}")
    sys.exit(1 if failed else 0)
