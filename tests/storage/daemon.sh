#!/bin/sh
# tb-stored: the socket protocol, malformed requests refused, metrics files.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
dir=$(mktemp -d "$TB_BUILD/storage-daemon.XXXXXX") && dir=$(cd "$dir" && pwd -P) || exit 1
sock="$dir/s.sock"
"$tb" store make-test-file "$dir/m.safetensors" --size 6M && "$tb" store manifest "$dir/m.safetensors" >/dev/null
"$TB_BUILD/bin/tb-stored" --socket "$sock" --root "$dir" --metrics "$dir/tb.prom" 2>"$dir/err" &
pid=$!
trap 'kill $pid $pid2 2>/dev/null; rm -rf "$dir"' EXIT
for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

# ask LINE...: sends each line on one connection, prints each answer line
ask() {
  python3 - "$sock" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
f = s.makefile("rb")
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
    print(f.readline().decode().strip())
PY
}

out=$(ask '{"op":"status"}')
contains "status answers" '"ok": true' "$(echo "$out" | sed 's/":/": /g')"
out=$(ask "{\"op\":\"verify\",\"file\":\"$dir/m.safetensors\"}")
contains "verify loads and checks the file" '"verified":true' "$out"
contains "verify reports the bytes" "\"bytes\":$(stat -c %s "$dir/m.safetensors")" "$out"
out=$(ask 'hello' '[1]' '{"op":7}' '{"op":"format"}' '{"op":"load"}' '{"op":"load","file":"/etc/passwd"}' \
          "{\"op\":\"load\",\"file\":\"$dir/../../../etc/passwd\"}" "{\"op\":\"load\",\"file\":\"$dir/m.safetensors\",\"verify\":1}" \
          '{"op":"status","op":"load"}' '{"op":"status"}')
n=$(echo "$out" | grep -c '"ok":false')
[ "$n" -eq 9 ] && ok "nine malformed requests refused" || not_ok "nine malformed requests refused" "$out"
contains "refusals say why" '"error":"not JSON"' "$out"
contains "paths outside the root are refused" 'no such file under the daemon' "$out"
contains "the connection survives malformed requests" '"ok":true' "$(echo "$out" | tail -n 1)"
long=$(python3 -c 'print("{\"op\":\"status\",\"x\":\"" + "a" * 5000 + "\"}")')
out=$(ask "$long" 2>&1)
contains "an overlong request is refused" "longer than 4096" "$out"
printf '\000\001\377' | dd of="$dir/m.safetensors" bs=1 seek=3000000 conv=notrunc status=none
out=$(ask "{\"op\":\"verify\",\"file\":\"$dir/m.safetensors\"}")
contains "a corrupted file fails verification with where" "checksum mismatch in the 1048576-byte chunk at offset 2097152" "$out"
out=$(ask '{"op":"status"}')
contains "status counts loads" '"loads":2' "$out"
kill -0 $pid 2>/dev/null && ok "the daemon is still running" || not_ok "the daemon is still running"
prom=$(cat "$dir/tb.prom" 2>/dev/null)
contains "metrics file is written" "tb_stored_verify_failures_total 1" "$prom"
contains "metrics count refusals" "tb_stored_refused_total 10" "$prom"
ls "$dir"/*.tmp >/dev/null 2>&1 && not_ok "no temporary metrics files are left" || ok "no temporary metrics files are left"
# two requests in one write: the load runs on a worker, the status waits for
# it and is answered second, in order
out=$(python3 - "$sock" "$dir/m.safetensors" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
s.sendall(('{"op":"load","file":"%s"}\n{"op":"status"}\n' % sys.argv[2]).encode())
f = s.makefile("rb")
print(f.readline().decode().strip()); print(f.readline().decode().strip())
PY
)
first=$(printf '%s\n' "$out" | head -n 1); second=$(printf '%s\n' "$out" | sed -n 2p)
case "$first|$second" in *'"bytes"'*'|'*'"uptime_s"'*) ok "pipelined requests are answered in order around a load" ;;
  *) not_ok "pipelined requests are answered in order around a load" "$out" ;; esac

# ---- as a hostile client would ----------------------------------------------
# py SCRIPT ARGS...: runs a python client; $sock is argv[1]
py() { script=$1; shift; python3 -c "$script" "$sock" "$@"; }
status_ok='
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
s.sendall(b"{\"op\":\"status\"}\n"); print(s.makefile("rb").readline().decode().strip())'

# A client that sends requests and never reads its answers: it is dropped
# once its unread answers pass the cap; the others are still served.
out=$(py '
import socket, sys, time, errno
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
req = b"{\"op\":\"status\"}\n" * 64
end = time.time() + 20; dropped = False
while time.time() < end and not dropped:
    try: s.send(req)
    except BlockingIOError: time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError): dropped = True
print("dropped" if dropped else "still connected")
o = socket.socket(socket.AF_UNIX); o.settimeout(20); o.connect(sys.argv[1])
o.sendall(b"{\"op\":\"status\"}\n"); print(o.makefile("rb").readline().decode().strip())' 2>&1)
contains "a client that never reads is dropped" "dropped" "$out"
contains "and the others are still answered" '"uptime_s"' "$out"

# FIFOs and devices are refused without a worker blocking in open(), and a
# client that leaves frees its slot: more of them than client slots.
mkfifo "$dir/fifo.safetensors"
ln -s /dev/zero "$dir/zero.safetensors"
out=$(py '
import socket, sys
for i in range(40):
    s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
    s.sendall(("{\"op\":\"load\",\"file\":\"%s\"}\n" % sys.argv[2 + i % 2]).encode())
    print(s.makefile("rb").readline().decode().strip()); s.close()' "$dir/fifo.safetensors" "$dir/zero.safetensors" 2>&1)
n=$(printf '%s\n' "$out" | grep -c 'a FIFO, not a regular file')
[ "$n" -eq 20 ] && ok "a FIFO is refused as not a regular file" || not_ok "a FIFO is refused as not a regular file" "$out"
n=$(printf '%s\n' "$out" | grep -c 'resolves outside the directory')
[ "$n" -eq 20 ] && ok "a symlink out of the root (/dev/zero) is refused" || not_ok "a symlink out of the root (/dev/zero) is refused" "$out"
contains "forty such clients leave the daemon serving" '"uptime_s"' "$(py "$status_ok" 2>&1)"
ln -s . "$dir/self"
out=$(py '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1]); f = s.makefile("rb")
for p in sys.argv[2:]:
    s.sendall(("{\"op\":\"load\",\"file\":\"%s\"}\n" % p).encode()); print(f.readline().decode().strip())' \
  "$dir/." "$dir/self/m.safetensors" "m.safetensors" 2>&1)
contains "the root itself is refused" "a directory, not a regular file" "$(echo "$out" | sed -n 1p)"
contains "a relative symlink that stays in the root is followed" '"ok":true' "$(echo "$out" | sed -n 2p)"
contains "a path relative to the root is served" '"ok":true' "$(echo "$out" | sed -n 3p)"

# A file swapped for a symlink out of the root while loads run: no answer
# tells anything of the file outside (its size, its first bytes).
mkdir "$dir/outside"
printf 'TOPSECRET and more secret bytes\n' >"$dir/outside/secret"
"$tb" store make-test-file "$dir/outside/secret.safetensors" --size 3M
secret_size=$(stat -c %s "$dir/outside/secret.safetensors")
out=$(py '
import os, socket, sys, threading
d = sys.argv[2]; stop = False
def swap():
    i = 0
    while not stop:
        i += 1; t = os.path.join(d, "tmp%d" % (i % 2))
        if i % 3 == 0: os.symlink(os.path.join(d, "outside/secret"), t)
        elif i % 3 == 1: os.symlink(os.path.join(d, "outside/secret.safetensors"), t)
        else: os.link(os.path.join(d, "m.safetensors"), t)
        os.replace(t, os.path.join(d, "victim.safetensors"))
th = threading.Thread(target=swap); th.start()
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1]); f = s.makefile("rb")
for i in range(150):
    s.sendall(("{\"op\":\"load\",\"file\":\"%s/victim.safetensors\"}\n" % d).encode())
    print(f.readline().decode().strip())
stop = True; th.join()' "$dir" 2>&1)
leaks=$(printf '%s\n' "$out" | grep -c -e "\"bytes\":$secret_size," -e 4995128901736877908 -e TOPSECRE -e '"ok":false,"error":"[^"]*header length')
answered=$(printf '%s\n' "$out" | grep -c '"ok"')
[ "$leaks" -eq 0 ] && [ "$answered" -eq 150 ] && ok "a symlink swapped in mid-request reveals nothing outside the root" \
  || not_ok "a symlink swapped in mid-request reveals nothing outside the root" "$leaks leaks, $answered answers: $(printf '%s\n' "$out" | grep -v 'resolves outside' | head -n 3)"

# Thirty-two connects at once, none waiting for an accept: none is refused.
out=$(py '
import socket, sys
socks, refused = [], 0
for i in range(32):
    s = socket.socket(socket.AF_UNIX); s.setblocking(False)
    try: s.connect(sys.argv[1])
    except BlockingIOError: refused += 1
    socks.append(s)
print("refused", refused)' 2>&1)
contains "a burst of non-blocking connects is accepted" "refused 0" "$out"

# A second daemon on the same socket is refused; the first keeps it.
"$TB_BUILD/bin/tb-stored" --socket "$sock" --root "$dir" >"$dir/second.out" 2>&1; rc=$?
[ $rc -ne 0 ] && ok "a second tb-stored on the same socket is refused" || not_ok "a second tb-stored on the same socket is refused" "status 0"
contains "and says which one holds it" "another tb-stored serves $sock" "$(cat "$dir/second.out")"
contains "the first one still answers on its socket" '"uptime_s"' "$(py "$status_ok" 2>&1)"

# Refused at start: a --metrics directory that does not exist, a regular
# file as --root, a budget that is not a size.
out=$("$TB_BUILD/bin/tb-stored" --socket "$dir/x.sock" --root "$dir" --metrics "$dir/nodir/tb.prom" 2>&1); rc=$?
[ $rc -eq 2 ] && ok "--metrics in a missing directory is refused" || not_ok "--metrics in a missing directory is refused" "status $rc"
contains "with the reason" "--metrics $dir/nodir/tb.prom: cannot write it: No such file or directory" "$out"
out=$("$TB_BUILD/bin/tb-stored" --socket "$dir/x.sock" --root "$dir/m.safetensors" 2>&1); rc=$?
[ $rc -eq 2 ] && ok "a regular file as --root is refused" || not_ok "a regular file as --root is refused" "status $rc"
contains "with the reason" "not a directory" "$out"
check_fails "--memory 1e99 is refused" "$TB_BUILD/bin/tb-stored" --socket "$dir/x.sock" --root "$dir" --memory 1e99
[ -e "$dir/x.sock" ] && not_ok "refused starts leave no socket" || ok "refused starts leave no socket"

# Killed: the lock dies with it, and a new daemon replaces the stale socket.
kill -KILL $pid; wait $pid 2>/dev/null
[ -S "$sock" ] && ok "a killed daemon leaves its socket" || not_ok "a killed daemon leaves its socket"
"$TB_BUILD/bin/tb-stored" --socket "$sock" --root "$dir" --memory 100M 2>"$dir/err" &
pid=$!
for i in $(seq 50); do py "$status_ok" >/dev/null 2>&1 && break; sleep 0.1; done
contains "a new daemon takes the stale socket over" '"uptime_s"' "$(py "$status_ok" 2>&1)"

"$tb" store manifest "$dir/m.safetensors" >/dev/null
# The memory budget: each load of m needs its 64 MiB of staging and more,
# so of eight at once one runs at a time, and all are answered.
out=$(py '
import socket, sys
socks = []
for i in range(8):
    s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1])
    s.sendall(("{\"op\":\"verify\",\"file\":\"%s\"}\n" % sys.argv[2]).encode()); socks.append(s)
for s in socks: print(s.makefile("rb").readline().decode().strip())' "$dir/m.safetensors" 2>&1)
n=$(printf '%s\n' "$out" | grep -c '"verified":true')
[ "$n" -eq 8 ] && ok "eight loads within the memory budget all run" || not_ok "eight loads within the memory budget all run" "$out"
"$TB_BUILD/bin/tb-stored" --socket "$dir/small.sock" --root "$dir" --memory 32M 2>>"$dir/err" &
pid2=$!
sock_main=$sock; sock="$dir/small.sock"
for i in $(seq 50); do py "$status_ok" >/dev/null 2>&1 && break; sleep 0.1; done
out=$(py '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
s.sendall(("{\"op\":\"load\",\"file\":\"%s\"}\n" % sys.argv[2]).encode()); print(s.makefile("rb").readline().decode().strip())' "$dir/m.safetensors" 2>&1)
contains "a load bigger than the whole budget is refused, saying so" "more than the daemon's 32 MiB" "$out"
kill -TERM $pid2; wait $pid2; pid2=
sock=$sock_main

kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM stops it cleanly" || not_ok "SIGTERM stops it cleanly" "status $rc: $(cat "$dir/err")"
[ -e "$sock" ] && not_ok "the socket is removed" || ok "the socket is removed"
