#!/bin/sh
# The setup step "power" and tb power on a simulated box of three GPUs (so
# that one 15 A outlet holds their minimum caps): the caps within each card's
# min/max and their sum within the budget, written by tb power apply and read
# back; a box restart resets them and tb power apply sets them again; bad
# config values as FILE:LINE; a budget too small refused changing nothing;
# the units systemd-analyze verify clean.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
state=$(mktemp -d /tmp/tb-setup-power.XXXXXX)
export TB_SIM_STATE="$state/box"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
root="$state/root"
mkdir -p "$root/etc/tb"
three='[system]\ngpus = 3\n[setup]\nskip = storage, fans, services, access, final\n'
printf "$three" >"$root/etc/tb/setup.conf"
conf="$root/etc/tb/power.conf"
out=$("$tb" sim start --gpus 3 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
on_box() { "$tb" sim run -- "$@"; }
# caps: each GPU's power1_cap in watts, "PCI=W" sorted
caps() {
  on_box sh -c 'for d in /sys/bus/pci/drivers/amdgpu/0000:*; do echo "${d##*/}=$(( $(cat $d/hwmon/hwmon*/power1_cap) / 1000000 ))"; done'
}
defaults=$(caps)

# ---- plan, apply, again, verify ----
out=$(on_box "$tb" setup plan --root "$root" 2>&1); rc=$?
[ $rc -eq 0 ] && [ ! -e "$conf" ] && [ ! -e "$root/etc/systemd" ] && ok "a plan changes nothing" ||
  not_ok "a plan changes nothing" "status $rc: $out"
contains "the plan names the caps file" "would: create /etc/tb/power.conf" "$out"
out=$(on_box "$tb" setup apply --root "$root" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "apply" || not_ok "apply" "status $rc: $out"
equals "apply into a root leaves the box's caps to its boot" "$defaults" "$(caps)"
out=$(on_box "$tb" setup apply --root "$root" 2>&1)
contains "a second apply changes nothing" "apply: 0 changed" "$out"
out=$(on_box "$tb" setup verify --root "$root" 2>&1)
check "verify passes" on_box "$tb" setup verify --root "$root"

# ---- the caps: within min/max, the sum within the budget ----
read_range() {
  on_box sh -c 'for d in /sys/bus/pci/drivers/amdgpu/0000:*; do h=$(echo $d/hwmon/hwmon*); echo "${d##*/} $(cat $h/power1_cap_min) $(cat $h/power1_cap_max)"; done'
}
range=$(read_range)
bad=$(printf '%s\n' "$range" | while read -r pci min max; do
  cap=$(sed -n "/^\[gpu $pci\]/,/^\[/s/^cap_w = //p" "$conf")
  [ -n "$cap" ] && [ $((cap * 1000000)) -ge "$min" ] && [ $((cap * 1000000)) -le "$max" ] || echo "$pci cap '$cap' not in $min..$max"
done)
[ -z "$bad" ] && [ "$(grep -c '^\[gpu ' "$conf")" = 3 ] && ok "each of the 3 GPUs' caps is within its min/max" ||
  not_ok "caps within min/max" "$bad $(cat "$conf")"
sum=$(sed -n 's/^cap_w = //p' "$conf" | paste -sd+ | bc)
gpus_w=$(sed -n 's/^gpus_w = //p' "$conf")
# 120 V x 15 A x 80% = 1440 W, less the host's 250 W, at 90% PSU efficiency
equals "the GPUs' budget from the outlet" 1071 "$gpus_w"
[ "$sum" -le "$gpus_w" ] && [ "$sum" -gt $((gpus_w - 3)) ] && ok "the caps share the budget ($sum of $gpus_w W)" ||
  not_ok "caps share the budget" "sum $sum of $gpus_w"

# ---- tb power apply writes them, reads them back; again changes nothing ----
out=$(on_box "$tb" power apply --config "$conf" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "tb power apply reads each cap back" "3 changed, 0 unchanged, 0 failed" "$out" ||
  not_ok "tb power apply" "status $rc: $out"
equals "the box's caps are the configured ones" "$(sed -n 's/^\[gpu \(.*\)\]$/\1/p;s/^cap_w = //p' "$conf" | paste -d= - -)" "$(caps)"
contains "a second tb power apply changes nothing" "0 changed, 3 unchanged" "$(on_box "$tb" power apply --config "$conf" 2>&1)"
json=$(on_box "$tb" power --json --config "$conf" 2>&1); rc=$?
got=$(printf '%s' "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["ok"], len(j["gpus"]), j["total_cap_w"], j["budget"]["gpus_w"], all(g["min_w"] <= g["cap_w"] <= g["max_w"] and g["draw_w"] > 0 for g in j["gpus"]))' 2>&1)
[ $rc -eq 0 ] && equals "tb power --json: budget, caps within range, draw" "True 3 $sum 1071 True" "$got" ||
  not_ok "tb power --json" "status $rc: $json"

# ---- a box restart resets the caps; tb power apply (the boot unit's command) sets them again ----
"$tb" sim stop >/dev/null 2>&1
out=$("$tb" sim start --gpus 3 2>&1) || not_ok "the box starts again" "$out"
equals "a restart resets the caps to the cards' defaults" "$defaults" "$(caps)"
out=$(on_box "$tb" power --config "$conf" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "tb power says the caps are not the configured ones" "run tb power apply" "$out" ||
  not_ok "tb power after a restart" "status $rc: $out"
out=$(on_box "$tb" power apply --config "$conf" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(caps)" != "$defaults" ] && ok "tb power apply sets them again after the restart" ||
  not_ok "re-applied after restart" "status $rc: $out"
hw=$(on_box sh -c 'basename $(echo /sys/bus/pci/drivers/amdgpu/0000:23:00.0/hwmon/hwmon*)')
contains "the udev path: one GPU by its hwmon name" "0000:23:00.0: " "$(on_box "$tb" power apply --config "$conf" --hwmon "$hw" 2>&1)"

# ---- the units and the rule ----
units="$root/etc/systemd/system"
check "systemd-analyze verify tb-power.service" systemd-analyze verify "$units/tb-power.service"
check "systemd-analyze verify an instance of tb-power@.service" sh -c "cd '$units' && systemd-analyze verify ./tb-power@hwmon0.service"
[ -L "$units/multi-user.target.wants/tb-power.service" ] && ok "tb-power.service is enabled" || not_ok "enabled" "$(ls -R "$units")"
real_tb=$(realpath "$tb")
for f in tb-power.service tb-power@.service; do
  equals "the installed $f is installer/$f" "$(cat "$TB_SRC/installer/$f")" "$(sed "s|$real_tb |/usr/bin/tb |" "$units/$f")"
done
equals "the installed rule is installer/90-tb-power.rules" "$(cat "$TB_SRC/installer/90-tb-power.rules")" \
  "$(cat "$root/etc/udev/rules.d/90-tb-power.rules")"
sed 's|^ExecStart=[^ ]*|ExecStart=/nonexistent/tb|' "$units/tb-power.service" >"$state/bad.service"
check_fails "systemd-analyze verify catches a unit whose program is missing" systemd-analyze verify "$state/bad.service"

# ---- bad config values: FILE:LINE ----
printf "$three"'[power]\noutlet_amps = 15A\n' >"$root/etc/tb/setup.conf"
out=$(on_box "$tb" setup plan --root "$root" 2>&1); rc=$?
[ $rc -ne 0 ] && contains "a bad outlet_amps is named with its file and line" "setup.conf:6" "$out" || not_ok "bad value" "status $rc: $out"
printf "$three"'[power]\n\ncontinuous_pct = 101\n' >"$root/etc/tb/setup.conf"
contains "an out-of-range share is named with its line" "setup.conf:7" "$(on_box "$tb" setup plan --root "$root" 2>&1)"
printf '[budget]\noutlet_w = 1440\nhost_w = 250\npsu_efficiency_pct = 90\ngpus_w = 1071\n[gpu 0000:03:00.0]\ncap_w = 3o0\n' >"$state/typo.conf"
out=$(on_box "$tb" power apply --config "$state/typo.conf" 2>&1); rc=$?
[ $rc -eq 2 ] && contains "tb power apply names a bad cap's line" "typo.conf:7: cap_w must be a whole number" "$out" ||
  not_ok "bad power.conf" "status $rc: $out"

# ---- a budget too small: refused, nothing changed ----
small="$state/small"
mkdir -p "$small/etc/tb"
printf "$three"'[power]\nhost_watts = 600\n' >"$small/etc/tb/setup.conf"
before=$(caps)
out=$(on_box "$tb" setup apply --root "$small" 2>&1); rc=$?
equals "minimums over the budget: refused (exit 2)" 2 "$rc"
contains "saying by how much" "minimum caps add up to 960 W, more than the 756 W" "$out"
[ ! -e "$small/etc/tb/power.conf" ] && [ ! -e "$small/etc/systemd" ] && [ "$(caps)" = "$before" ] &&
  ok "the refusal changed nothing" || not_ok "refusal changed nothing" "$(find "$small")"
sed 's/^cap_w = .*/cap_w = 400/' "$conf" >"$state/over.conf"
out=$(on_box "$tb" power apply --config "$state/over.conf" 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$(caps)" = "$before" ] && contains "a caps file over its own budget is refused" "add up to 1200 W" "$out" ||
  not_ok "over-budget file" "status $rc: $out"

# ---- a GPU the file does not list gets its minimum; a cap outside the card's range is not written ----
sed '/^\[gpu 0000:43:00.0\]/,$d' "$conf" >"$state/two.conf"
out=$(on_box "$tb" power apply --config "$state/two.conf" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "an unlisted GPU is capped at its minimum" "0000:43:00.0=320" "$(caps)" ||
  not_ok "unlisted GPU" "status $rc: $out $(caps)"
sed 's/^cap_w = .*/cap_w = 300/' "$conf" >"$state/low.conf"
out=$(on_box "$tb" power apply --config "$state/low.conf" 2>&1); rc=$?
[ $rc -eq 1 ] && contains "a cap below the card's minimum is not written" "outside the card's 320..402 W" "$out" ||
  not_ok "cap below min" "status $rc: $out"
# the box refuses as amdgpu does: watts below the minimum, non-decimal text; truncates to whole watts
out=$(on_box sh -c 'h=$(echo /sys/bus/pci/drivers/amdgpu/0000:03:00.0/hwmon/hwmon*); for v in 319999999 0x13000000 -1 330500000; do echo $v >$h/power1_cap 2>/dev/null && echo "$v:$(cat $h/power1_cap)" || echo "$v:refused"; done' 2>&1)
equals "the box's power1_cap refuses and truncates as amdgpu does" \
  "319999999:refused 0x13000000:refused -1:refused 330500000:330000000" "$(echo $out)"
