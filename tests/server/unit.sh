#!/bin/sh
# tb-inferd's systemd unit: systemd-analyze verify accepts it without a
# word (its ExecStart pointed at the built program, as the installer points
# it at the installed one), and it says what the issue asks of it.
. "$TB_SRC/tests/tap.sh"
unit="$TB_SRC/infer/server/tb-inferd.service"
d=$(mktemp -d /tmp/tb-unit.XXXXXX)
trap 'rm -rf "$d"' EXIT
inferd=$(cd "$TB_BUILD/bin" && pwd)/tb-inferd
sed "s|/usr/local/bin/tb-inferd|$inferd|g" "$unit" >"$d/tb-inferd.service"
out=$(systemd-analyze verify "$d/tb-inferd.service" 2>&1); rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] && ok "systemd-analyze verify: the unit is clean" || not_ok "systemd-analyze verify" "status $rc: $out"
# the check above can fail: a misspelled value is reported
sed 's/^Type=notify/Type=notfy/' "$d/tb-inferd.service" >"$d/bad.service"
out=$(systemd-analyze verify "$d/bad.service" 2>&1)
contains "systemd-analyze verify reports a bad value (the check can fail)" "Failed to parse service type" "$out"
for want in Type=notify WatchdogSec= Restart=on-failure User=tb-inferd ProtectSystem=strict NoNewPrivileges=yes \
            DevicePolicy=closed "DeviceAllow=/dev/kfd rw"; do
  grep -q "^$want" "$unit" && ok "the unit has $want" || not_ok "the unit has $want"
done
others=$(grep '^DeviceAllow=' "$unit" | grep -v -e '^DeviceAllow=/dev/kfd rw$' -e '^DeviceAllow=/dev/dri/renderD[0-9]* rw$')
equals "devices: /dev/kfd and the render nodes only" "" "$others"
out=$("$inferd" --config /dev/null --check 2>&1); rc=$?
[ $rc -eq 2 ] && contains "ExecStartPre's --check refuses a config without a model" "no model" "$out" ||
  not_ok "--check" "status $rc: $out"
out=$("$TB_BUILD/bin/tb" serve --help 2>&1); rc=$?
[ $rc -eq 0 ] && contains "tb serve is tb-inferd in the foreground" "usage: tb serve" "$out" || not_ok "tb serve --help" "status $rc: $out"
