# tests/server's shared start: a box (its plant sped up), the tiny model, an API key and a
# certificate; start_inferd starts the daemon (ENV... before it) and sets
# port, tport and url.  Source after tap.sh.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
# the thermal plant 100 times faster than real time: a GPU that loses its
# cooling reaches its limit in seconds
out=$("$tb" sim start --speed 100 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
d=$(mktemp -d /tmp/tb-serve.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$d"; "$tb" sim stop >/dev/null 2>&1; rm -rf "$box_state"' EXIT
client="python3 $TB_SRC/tests/server/client.py $d/ports"
inferd="$TB_BUILD/bin/tb-inferd"
m="$d/m.gguf"
python3 "$TB_SRC/tests/infer/mkmodel.py" --format gguf --type f16 --vocab spm --dim 48 --ffn 80 --heads 6 \
  --kv-heads 2 --layers 2 --ctx 512 --seed 11 --out "$m" >/dev/null 2>&1 || { not_ok "mkmodel"; exit 1; }

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

# start_inferd [VAR=VALUE...]: the daemon with those in its environment and
# $more after its options (the last of an option wins)
start_inferd() {
rm -f "$d/ports"
env "$@" "$tb" sim run -- "$inferd" --config /dev/null "$m" --gpus 1 \
  --context 128 --queue 1 --listen 127.0.0.1:${port:-0},0.0.0.0:0 --unix-socket "$d/inferd.sock" --tls-cert "$d/tls.crt" \
  --tls-key "$d/tls.key" --api-keys "$d/keys" --hang-timeout-ms 2000 --connection-timeout 20 --request-timeout 2 \
  --per-ip-connections 6 --cors-origins http://laptop.example --port-file "$d/ports" $more >>"$d/log" 2>&1 &
pid=$!
for i in $(seq 300); do [ -s "$d/ports" ] && break; sleep 0.1; done
port=$(sed -n 's/^http 127.0.0.1://p' "$d/ports")
tport=$(sed -n 's/^https 0.0.0.0://p' "$d/ports")
[ -n "$port" ] && [ -n "$tport" ] && ok "the daemon listens (ports $port and $tport)" ||
  { not_ok "the daemon listens" "$(cat "$d/log")"; exit 1; }
url="http://127.0.0.1:$port"
}
wait_ready() {
  for i in $(seq 600); do
    st=$(curl -s -o /dev/null -w '%{http_code}' "$url/health"); [ "$st" = 200 ] && break; sleep 0.2
  done
  equals "/health turns 200 once ready" 200 "$st"
}
