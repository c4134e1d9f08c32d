#!/bin/sh
# tb-stored: the socket protocol, malformed requests refused, metrics files.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
dir=$(mktemp -d "$TB_BUILD/storage-daemon.XXXXXX") || exit 1
sock="$dir/s.sock"
"$tb" store make-test-file "$dir/m.safetensors" --size 6M && "$tb" store manifest "$dir/m.safetensors" >/dev/null
"$TB_BUILD/bin/tb-stored" --socket "$sock" --root "$dir" --metrics "$dir/tb.prom" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
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
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM stops it cleanly" || not_ok "SIGTERM stops it cleanly" "status $rc: $(cat "$dir/err")"
[ -e "$sock" ] && not_ok "the socket is removed" || ok "the socket is removed"
