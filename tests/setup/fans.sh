#!/bin/sh
# The setup step "fans" into a target root on the simulated box: tb-fand's
# config (the shipped one, or the owner's checked by tb-fand --check), the
# amdgpu options of the fan curve in modprobe.d, an initramfs older than them
# noted, tb-fand.service enabled once installed, the calibration left to the
# box's first boot; a second apply changes nothing; bad values as FILE:LINE.
# Then on the running system (/etc and /var overlaid in a private mount
# namespace): a reboot asked for while amdgpu runs with other options, then
# the caps set now and read back and the fans calibrated once.
. "$TB_SRC/tests/tap.sh"
tb="$TB_BUILD/bin/tb"
state=$(mktemp -d /tmp/tb-setup-fans.XXXXXX)
export TB_SIM_STATE="$state/box"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:detect_leaks=0"	# tb-fand --check: libsensors keeps its chip list
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$state"' EXIT
root="$state/root"
mkdir -p "$root/etc/tb" "$root/boot"
base='[power]\noutlet_volts = 240\noutlet_amps = 14\n[setup]\nskip = storage, services, access, final\n'	# six GPUs' minimums need more than 15 A at 120 V
printf "$base" >"$root/etc/tb/setup.conf"
touch -d '2020-01-01' "$root/boot/initrd.img-6.1.0-tb"
out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
on_box() { "$tb" sim run -- "$@"; }
setup() { on_box "$tb" setup "$@" --root "$root" 2>&1; }

out=$(setup plan); rc=$?
[ $rc -eq 0 ] && [ ! -e "$root/etc/tb-fand.conf" ] && [ ! -e "$root/etc/modprobe.d" ] && ok "a plan changes nothing" ||
  not_ok "a plan changes nothing" "status $rc: $out"
out=$(setup apply); rc=$?
[ $rc -eq 0 ] && ok "apply" || not_ok "apply" "status $rc: $out"
equals "tb-fand's config is the shipped one" "$(cat "$TB_SRC/fancontrol/tb-fand.conf")" "$(cat "$root/etc/tb-fand.conf")"
contains "amdgpu gets PP_OVERDRIVE_MASK for the fan curve" "options amdgpu ppfeaturemask=0xfff7ffff" \
  "$(cat "$root/etc/modprobe.d/tb-amdgpu.conf")"
contains "an initramfs older than the options is named" "the initramfs is older than /etc/modprobe.d/tb-amdgpu.conf" "$out"
contains "the calibration waits for the box's first boot" "calibrated on the box at its first boot" "$out"
contains "a second apply changes nothing" "apply: 0 changed" "$(setup apply)"
check "verify passes" setup verify

# tb-fand.service once installed (the services step's job) is enabled
units="$root/etc/systemd/system"
mkdir -p "$units"
cp "$TB_SRC/fancontrol/tb-fand.service" "$units/"
out=$(setup apply); rc=$?
[ $rc -eq 0 ] && [ -L "$units/multi-user.target.wants/tb-fand.service" ] && ok "tb-fand.service is enabled" ||
  not_ok "tb-fand enabled" "status $rc: $out"

# the owner's config is kept, but must be one tb-fand takes
printf '[daemon]\ninterval_s = fast\n' >"$root/etc/tb-fand.conf"
out=$(setup apply); rc=$?
[ $rc -eq 1 ] && contains "a config tb-fand refuses fails the step, with its line" "tb-fand.conf:2" "$out" ||
  not_ok "bad tb-fand.conf" "status $rc: $out"
cp "$TB_SRC/fancontrol/tb-fand.conf" "$root/etc/tb-fand.conf"
printf "$base"'[fans]\nppfeaturemask = 0xfff7fffz\n' >"$root/etc/tb/setup.conf"
out=$(setup plan); rc=$?
[ $rc -eq 1 ] && contains "a bad ppfeaturemask is named with its file and line" "setup.conf:7: ppfeaturemask" "$out" ||
  not_ok "bad mask" "status $rc: $out"
printf "$base"'[fans]\nppfeaturemask = 0xfff7bfff\n' >"$root/etc/tb/setup.conf"
out=$(setup apply)
contains "a mask without OverDrive is said to leave the GPUs' fans uncontrolled" "leaves out PP_OVERDRIVE_MASK" "$out"
contains "and the options file follows the config" "ppfeaturemask=0xfff7bfff" "$(cat "$root/etc/modprobe.d/tb-amdgpu.conf")"

# ---- live: the running system, its /etc and /var overlaid in a mount namespace of this test ----
live="$state/live"
mkdir -p "$live/eu/tb" "$live/ew" "$live/vu" "$live/vw"
on_live() {
  unshare -m sh -c 'mount --make-rprivate / &&
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/eu,workdir=$0/ew" /etc &&
    mount -t overlay overlay -o "lowerdir=/var,upperdir=$0/vu,workdir=$0/vw" /var && exec "$@"' "$live" \
    "$tb" sim run -- "$tb" setup apply 2>&1
}
fast='[fans]\ncalibrate_settle_ms = 100\ncalibrate_step = 128\n'
printf "$base$fast" >"$live/eu/tb/setup.conf"
running=$(on_box cat /sys/module/amdgpu/parameters/ppfeaturemask)
out=$(on_live); rc=$?
[ $rc -eq 75 ] && contains "amdgpu running with ppfeaturemask=$running: reboot asked for (75)" \
  "reboot: amdgpu must be loaded with ppfeaturemask=0xfff7ffff" "$out" || not_ok "reboot" "status $rc: $out"
[ ! -e "$live/vu/lib/tb-fand/calibration.conf" ] && ok "no calibration before the reboot" || not_ok "calibrated too early"
contains "the caps are set on the running GPUs and read back" "power1_cap 355 W -> 365 W" "$out"
printf "$base$fast"'ppfeaturemask = %s\n' "$running" >"$live/eu/tb/setup.conf"	# as after the reboot
out=$(on_live); rc=$?
[ $rc -eq 0 ] && [ -s "$live/vu/lib/tb-fand/calibration.conf" ] && contains "then the fans are calibrated" "did: calibrate the fans" "$out" ||
  not_ok "calibration" "status $rc: $out"
contains "the calibration covers the box's GPU and chassis fans by device" "amdgpu 0000:a3:00.0 fan1" "$(cat "$live/vu/lib/tb-fand/calibration.fans" 2>&1)"
out=$(on_live)
contains "once: a second live apply changes nothing" "apply: 0 changed" "$out"
