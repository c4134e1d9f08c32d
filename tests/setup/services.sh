#!/usr/bin/env bash
# tb setup's services and access steps on a target root (the GPUs' steps run
# on the simulated box): a plan that changes nothing, an apply, a second
# apply with 0 changed, verify; the system users, units enabled, tb-inferd's
# API key (printed once, its hash 0600 and tb-inferd's) and TLS certificate
# (its fingerprint printed); the owner's SSH key, host keys made per machine,
# key-only sshd; a bad authorized_keys line refused at FILE:LINE; a network
# port without keys refused (exit 2); systemd-analyze verify on every unit.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/setup/root.inc.sh"
tb="$TB_BUILD/bin/tb"
t=$(mktemp -d /tmp/tb-test-services.XXXXXX)
export TB_SIM_STATE="$t/box" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$t"' EXIT
root="$t/root"
make_root "$root" || { not_ok "the fixture root" "make_root $root"; exit 1; }
# the owner's key on a "USB stick"
mkdir -p "$t/media/stick/tb"
ssh-keygen -q -t ed25519 -N '' -C owner@laptop -f "$t/owner" || not_ok "ssh-keygen makes a test key"
cp "$t/owner.pub" "$t/media/stick/tb/authorized_keys"
# a host key the image came with, which must not survive
ssh-keygen -q -t ed25519 -N '' -C factory -f "$root/etc/ssh/ssh_host_ed25519_key"
factory=$(ssh-keygen -l -f "$root/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
cat >"$t/setup.conf" <<EOF
[setup]
skip = storage, power, fans
[access]
ssh_keys = $t/media/*/tb/authorized_keys
[final]
run_diag = no
EOF
out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
setup() { "$tb" sim run -- "$tb" setup "$1" --root "$root" --config "${2:-$t/setup.conf}"; }
tree() { (cd "$1" && find . -printf '%p %m %U %s\n' | sort); }

# ---- plan: every change named, none made ----
before=$(tree "$root")
out=$(setup plan 2>&1); rc=$?
equals "plan on a fresh root: exit 0" 0 $rc
for want in "would: enable tb-fand.service" "would: enable tb-stored.service" \
            "would: make the stack's system users and groups with systemd-sysusers" \
            "would: make an API key for tb-inferd" "would: create the owner's login tb" \
            "would: add 1 SSH key from $t/media/stick/tb/authorized_keys" \
            "would: make new SSH host keys for this machine" "READY: not checked: not live"; do
  contains "plan: $want" "$want" "$out"
done
equals "the plan changed nothing in the root" "$before" "$(tree "$root")"

# ---- apply ----
out=$(setup apply 2>&1); rc=$?
[ $rc -eq 0 ] && contains "apply: done" "0 failed: done" "$out" || not_ok "apply" "status $rc: $out"
key=$(printf '%s\n' "$out" | sed -n 's/.*API key (shown this once, keep it; only its hash is stored): //p')
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
contains "the API key printed is the one whose hash is stored" "sha256:$hash tb-setup" "$(cat "$root/etc/tb/inferd.keys" 2>&1)"
uid=$(awk -F: '$1 == "tb-inferd" {print $3}' "$root/etc/passwd")
[ -n "$uid" ] && ok "systemd-sysusers made the unit's User=tb-inferd" || not_ok "tb-inferd user" "$(cat "$root/etc/passwd")"
equals "the keys file is tb-inferd's, mode 0600" "600 $uid" "$(stat -c '%a %u' "$root/etc/tb/inferd.keys")"
equals "render has tb-inferd (SupplementaryGroups=) and the owner" "tb-inferd,tb" "$(awk -F: '$1 == "render" {print $4}' "$root/etc/group")"
equals "so has video" "tb-inferd,tb" "$(awk -F: '$1 == "video" {print $4}' "$root/etc/group")"
wants="$root/etc/systemd/system/multi-user.target.wants"
[ -L "$wants/tb-fand.service" ] && [ -L "$wants/tb-stored.service" ] && ok "tb-fand and tb-stored are enabled" ||
  not_ok "enabled" "$(ls -l "$wants" 2>&1)"
[ ! -e "$wants/tb-inferd.service" ] && contains "tb-inferd without a model: installed, not enabled, and said so" \
  "tb-inferd.service: installed, not enabled: no model" "$out" || not_ok "tb-inferd enabled without a model"
grep -q 'GROUP="render"' "$root/etc/udev/rules.d/70-tb-gpu.rules" && ok "the udev rule gives KFD and the render nodes to render" ||
  not_ok "udev rule"
owner_uid=$(awk -F: '$1 == "tb" {print $3}' "$root/etc/passwd")
equals "the owner's authorized_keys holds the stick's key" "$(cat "$t/owner.pub")" "$(cat "$root/home/tb/.ssh/authorized_keys" 2>&1)"
equals "... the owner's, 0600 in a 0700 ~/.ssh" "600 $owner_uid 700 $owner_uid" \
  "$(stat -c '%a %u' "$root/home/tb/.ssh/authorized_keys") $(stat -c '%a %u' "$root/home/tb/.ssh")"
grep -qx 'PasswordAuthentication no' "$root/etc/ssh/sshd_config.d/tb-setup.conf" 2>/dev/null &&
  ok "with a key installed, sshd takes no passwords" || not_ok "sshd drop-in"
new=$(ssh-keygen -l -f "$root/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
[ -n "$new" ] && [ "$new" != "$factory" ] && ok "the image's host key was replaced by one made here" ||
  not_ok "host key" "factory $factory, now $new"
contains "the new host key's fingerprint is printed" "ed25519 $new" "$out"

# ---- a second apply changes nothing; verify passes ----
out=$(setup apply 2>&1); rc=$?
[ $rc -eq 0 ] && contains "a second apply: 0 changed" "apply: 0 changed" "$out" || not_ok "second apply" "status $rc: $out"
case $out in *"API key"*) not_ok "the key is printed once only" "$out" ;; *) ok "the key is printed once only" ;; esac
equals "... and the host key stays" "$new" "$(ssh-keygen -l -f "$root/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)"
out=$(setup verify 2>&1); rc=$?
[ $rc -eq 0 ] && contains "verify passes, READY said not checked (not live)" "READY: not checked: not live" "$out" ||
  not_ok "verify" "status $rc: $out"
# a copy of the image on another machine (a new machine id) makes its own host keys, once
echo fedcba9876543210fedcba9876543210 >"$root/etc/machine-id"
out=$(setup apply 2>&1); rc=$?
other=$(ssh-keygen -l -f "$root/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
[ $rc -eq 0 ] && [ "$other" != "$new" ] && ok "a new machine id: new host keys" || not_ok "new machine" "$rc $other: $out"
# tb-inferd's keys file altered by hand: the owner and mode are put back
chmod 644 "$root/etc/tb/inferd.keys"
out=$(setup plan 2>&1)
contains "a keys file others can read is found by the plan" "chmod 0600 /etc/tb/inferd.keys (was uid $uid, mode 0644)" "$out"
setup apply >/dev/null 2>&1
equals "... and put back by apply" "600" "$(stat -c '%a' "$root/etc/tb/inferd.keys")"

# ---- bad keys on the stick: refused with FILE:LINE, nothing added ----
printf '%s\n# a comment\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbogus x@y\n' "$(cat "$t/owner.pub")" \
  >"$t/media/stick/tb/authorized_keys"
out=$(setup apply 2>&1); rc=$?
equals "a bad authorized_keys line fails the step (exit 1)" 1 $rc
contains "... named with its FILE:LINE" "$t/media/stick/tb/authorized_keys:3: not an SSH public key" "$out"
equals "... and nothing was added" "$(cat "$t/owner.pub")" "$(cat "$root/home/tb/.ssh/authorized_keys")"
cp "$t/owner" "$t/media/stick/tb/authorized_keys"
out=$(setup apply 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a private key on the stick is refused" "authorized_keys:1: a private key" "$out" ||
  not_ok "private key" "status $rc: $out"
ssh-keygen -q -t ecdsa -N '' -C second@laptop -f "$t/second"
cp "$t/owner.pub" "$t/media/stick/tb/authorized_keys"; cat "$t/second.pub" >>"$t/media/stick/tb/authorized_keys"
out=$(setup apply 2>&1); rc=$?
[ $rc -eq 0 ] && contains "a second key is added, the first not twice" "add 1 SSH key from" "$out" || not_ok "second key" "$rc $out"
equals "... authorized_keys has both, once each" 2 "$(grep -c . "$root/home/tb/.ssh/authorized_keys")"

# an owner with no key anywhere, and no terminal to paste one on: said, never waited for
printf '[access]\nowner = carol\nssh_keys = %s/none/*\n[final]\nrun_diag = no\n[setup]\nskip = storage, power, fans\n' "$t" >"$t/carol.conf"
out=$(timeout 120 "$tb" sim run -- "$tb" setup apply --root "$root" --config "$t/carol.conf" </dev/null 2>&1); rc=$?
[ $rc -eq 0 ] && contains "no key and no terminal: the apply goes on and says so" "no SSH key for carol" "$out" ||
  not_ok "no key, no terminal" "status $rc: $out"

# ---- tb-inferd on the network: TLS made, keys required ----
cat "$t/setup.conf" - >"$t/net.conf" <<EOF
[services]
model = /raid/models/tiny.gguf
listen = 127.0.0.1:8000, 0.0.0.0:8443
EOF
out=$(setup apply "$t/net.conf" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "a listener off loopback: a certificate is made" "make a self-signed TLS certificate" "$out" ||
  not_ok "tls apply" "status $rc: $out"
fp=$(openssl x509 -in "$root/etc/tb/tls/inferd.crt" -noout -fingerprint -sha256 2>&1 | cut -d= -f2)
contains "... its SHA-256 fingerprint printed" "SHA-256 fingerprint $fp" "$out"
equals "... its key tb-inferd's, 0600" "600 $uid" "$(stat -c '%a %u' "$root/etc/tb/tls/inferd.key")"
[ -L "$wants/tb-inferd.service" ] && ok "with a model, tb-inferd is enabled" || not_ok "tb-inferd enabled"
grep -q '^tls_cert = /etc/tb/tls/inferd.crt' "$root/etc/tb/inferd.conf" && grep -q '^api_keys = ' "$root/etc/tb/inferd.conf" &&
  ok "inferd.conf names the certificate and the keys" || not_ok "inferd.conf" "$(cat "$root/etc/tb/inferd.conf")"
# tb-inferd itself accepts what setup made (the root's paths given as options;
# leaks not counted: --check exits without freeing what it read)
out=$(ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" "$TB_BUILD/bin/tb-inferd" --config "$root/etc/tb/inferd.conf" --api_keys "$root/etc/tb/inferd.keys" \
      --tls_cert "$root/etc/tb/tls/inferd.crt" --tls_key "$root/etc/tb/tls/inferd.key" --check 2>&1); rc=$?
[ $rc -eq 0 ] && ok "tb-inferd --check accepts the config, keys and certificate" || not_ok "tb-inferd --check" "$rc $out"
out=$(setup apply "$t/net.conf" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "a second apply with TLS: 0 changed" "apply: 0 changed" "$out" || not_ok "tls second apply" "$rc $out"
printf '[services]\nlisten = 0.0.0.0:8443\napi_keys = none\n[setup]\nskip = storage, power, fans\n' >"$t/open.conf"
before=$(tree "$root" | grep -v -e ledger.json -e tb-setup.log)
out=$(setup apply "$t/open.conf" 2>&1); rc=$?
equals "a network port without API keys is refused (exit 2)" 2 $rc
contains "... naming the config line" "open.conf:2: listen 0.0.0.0:8443 opens a network port" "$out"
equals "... and nothing changed" "$before" "$(tree "$root" | grep -v -e ledger.json -e tb-setup.log)"
printf '[services]\nlisten = 127.0.0.1:8000\napi_keys = none\n[setup]\nskip = storage, power, fans\n' >"$t/local.conf"
out=$(setup plan "$t/local.conf" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "no keys with loopback listeners only is allowed" || not_ok "loopback without keys" "$rc $out"
printf '[services]\nlisten = localhost:80\n[setup]\nskip = storage, power, fans\n' >"$t/badlisten.conf"
out=$(setup plan "$t/badlisten.conf" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a listen address that is not numeric: FILE:LINE" "badlisten.conf:2: listen 'localhost:80'" "$out" ||
  not_ok "bad listen" "$rc $out"

# ---- systemd-analyze verify on every unit setup installs ----
mkdir "$t/units"
bin=$(cd "$TB_BUILD/bin" && pwd)
for u in "$TB_BUILD"/lib/systemd/system/*.service; do
  sed "s|/usr/local/bin/|$bin/|g" "$u" >"$t/units/${u##*/}"
done
equals "the build ships the three daemons' units" "tb-fand.service tb-inferd.service tb-stored.service" \
  "$(cd "$t/units" && echo *.service)"
for u in "$t"/units/*.service; do
  out=$(systemd-analyze verify --man=no "$u" 2>&1); rc=$?
  [ $rc -eq 0 ] && [ -z "$out" ] && ok "systemd-analyze verify: ${u##*/} is clean" || not_ok "verify ${u##*/}" "$rc: $out"
done
sed 's/^Type=notify/Type=notfy/' "$t/units/tb-fand.service" >"$t/units/bad.service"
out=$(systemd-analyze verify --man=no "$t/units/bad.service" 2>&1)
contains "systemd-analyze verify reports a bad unit (the check can fail)" "Failed to parse service type" "$out"

# ---- the final check: tb diag on the box's GPUs (two of them, three tests: short) ----
printf '[access]\nssh_keys = %s\n[final]\ngpus = 0,2\ntests = queues,fence,gemm\n[setup]\nskip = storage, power, fans\n' "$t/media/*/tb/authorized_keys" >"$t/diag.conf"
out=$(setup apply "$t/diag.conf" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "the final check on a healthy box passes, summarised" \
  "tb diag --level quick on 2 GPUs: 6 passed, 0 failed" "$out" || not_ok "final healthy" "status $rc: $out"
equals "its report is kept in the root" "tb.diag/1 6" "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["schema"], len(j["results"]))' \
  "$root/var/lib/tb-setup/diag.json" 2>&1)"
out=$(setup apply "$t/diag.conf" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "once done, the next apply does not run it again" "final     done before" "$out" ||
  not_ok "final once" "status $rc: $out"
"$tb" sim fault 2 hang >/dev/null
sed 's/^tests = .*/tests = queues,fence/' "$t/diag.conf" >"$t/diag2.conf"
out=$(setup apply "$t/diag2.conf" 2>&1); rc=$?
equals "a GPU that hangs fails the final check (exit 1)" 1 $rc
contains "... named with its address, test and status" "GPU 2 (0000:43:00.0) queues: HANG SUBMISSION_TIMEOUT" "$out"
contains "... in the step's error" "tb diag failed: GPU 2 queues HANG" "$out"
case $out in *"GPU 0 (0000:03:00.0)"*) not_ok "the healthy GPU is not named" "$out" ;; *) ok "the healthy GPU is not named" ;; esac
"$tb" sim fault clear >/dev/null
printf '[final]\ngpus = 0,,2\n[setup]\nskip = storage, power, fans\n' >"$t/badgpus.conf"
out=$(setup plan "$t/badgpus.conf" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a malformed GPU list: FILE:LINE" "badgpus.conf:2: gpus '0,,2'" "$out" || not_ok "bad gpus" "$rc $out"
