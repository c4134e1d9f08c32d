#!/bin/sh
# tb-stored drops the work of clients that left: eight clients each ask for
# a load of a 1 TiB file (sparse: minutes of reading) and hang up at once;
# the four workers are freed of them, so a ninth client's small load is
# answered, and the daemon's counters say the eight were cancelled, none
# completed.  Without the cancellation the ninth client would wait behind
# four 1 TiB reads.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
dir=$(mktemp -d "$TB_BUILD/storage-cancel.XXXXXX") && dir=$(cd "$dir" && pwd -P) || exit 1
sock="$dir/s.sock"
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$tb" store make-test-file "$dir/small.safetensors" --size 1M >/dev/null || { not_ok "test files" "make-test-file"; exit 1; }
python3 - "$dir/big.safetensors" <<'PY'
import json, struct, sys
n = 1 << 40
h = json.dumps({"x": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n)
PY
"$TB_BUILD/bin/tb-stored" --socket "$sock" --root "$dir" --metrics "$dir/tb.prom" 2>"$dir/err" &
pid=$!
for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done

out=$(python3 - "$sock" "$dir" <<'PY'
import json, socket, sys, time
sock, root = sys.argv[1], sys.argv[2]
def client():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(60); return s
for _ in range(8):
    s = client()
    s.sendall(b'{"op":"load","file":"big.safetensors"}\n')
    s.close()
s = client(); f = s.makefile("rb")
def ask(req):
    s.sendall(json.dumps(req).encode() + b"\n")
    return json.loads(f.readline())
try:
    a = ask({"op": "load", "file": "small.safetensors"})
    print("small:", "ok" if a.get("ok") else a.get("error"), a.get("bytes"))
except (OSError, ValueError) as e:
    print("small: no answer:", e)
    sys.exit(0)
# the departed loads are counted as their workers let go of them
for _ in range(600):
    st = ask({"op": "status"})
    if st["loads_running"] == 0 and st["loads_queued"] == 0:
        break
    time.sleep(0.1)
print("idle:", st["loads_running"] == 0 and st["loads_queued"] == 0)
print("cancelled:", st["loads_cancelled"])
print("completed:", st["loads_completed"])
print("errors:", st["load_errors"])
PY
)
small=$(stat -c %s "$dir/small.safetensors")
equals "a client's load is answered after eight others left theirs" "small: ok $small" \
  "$(printf '%s\n' "$out" | grep '^small:')"
equals "the daemon goes idle" "idle: True" "$(printf '%s\n' "$out" | grep '^idle:')"
equals "the eight departed clients' loads are cancelled" "cancelled: 8" "$(printf '%s\n' "$out" | grep '^cancelled:')"
equals "only the remaining client's load completed" "completed: 1" "$(printf '%s\n' "$out" | grep '^completed:')"
equals "no load failed" "errors: 0" "$(printf '%s\n' "$out" | grep '^errors:')"
contains "the metrics file counts them" "tb_stored_loads_cancelled_total 8" "$(cat "$dir/tb.prom" 2>/dev/null)"
kill -0 $pid 2>/dev/null && ok "the daemon is still running" || not_ok "the daemon is still running" "$(cat "$dir/err")"
