#!/bin/sh
# The box's sensors and fans through the unmodified tools and plain file
# writes: sensors(1) sees every chip, the attributes refuse what the kernel
# refuses, the fans obey, and injected faults show where they would.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
box() { "$tb" sim run -- "$@"; }
start_box
# a bad plant configuration stops the box from starting, with file and line
bad="$box_state.conf"
printf '[gpu]\nbogus = 1\n' >"$bad"
out=$(TB_SIM_STATE="$box_state.bad" "$tb" sim start --plant "$bad" 2>&1); rc=$?
[ $rc -ne 0 ] && ok "a bad plant configuration is refused" || not_ok "a bad plant configuration is refused" "$out"
contains "naming the file, line and key" "$bad:2: unknown key 'bogus'" "$out"
rm -rf "$box_state.bad" "$bad"
out=$(box sensors 2>&1)
n=$(printf '%s\n' "$out" | grep -c '^amdgpu-pci-')
[ "$n" = 6 ] && ok "sensors shows six amdgpu chips" || not_ok "sensors shows six amdgpu chips" "$n: $out"
for chip in amdgpu-pci-0300 k10temp-pci-00c3 nvme-pci-c100 nct6798-isa-0290; do
  contains "sensors shows $chip" "$chip" "$out"
done
contains "GPU temperatures are labelled edge, junction, mem" "junction:" "$out"
contains "GPU board power and its cap" "cap = 355.00 W" "$out"

# load drives power, power drives temperature
j_before=$(box sh -c 'cat /sys/class/drm/card5/device/hwmon/hwmon*/temp2_input')
check "box_test loads GPU 5" box "$TB_BUILD/tests/box_test" "$TB_BUILD/gpu/tests/sim/box_kernels.co" load 5 4
p_load=$(box sh -c 'cat /sys/class/drm/card5/device/hwmon/hwmon*/power1_average')
j_after=$(box sh -c 'cat /sys/class/drm/card5/device/hwmon/hwmon*/temp2_input')
[ "$j_after" -gt $((j_before + 1000)) ] && ok "a GPU under load heats up ($j_before -> $j_after m°C, $p_load uW)" || \
  not_ok "a GPU under load heats up" "$j_before -> $j_after m°C, power $p_load uW"

gpu=/sys/class/drm/card0/device
# gpu_metrics, the binary table amdgpu_top and nvtop read (v1.3 on SMU 13.0.0)
out=$(box python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
size, fmt, content = struct.unpack_from("<HBB", d)
hot = struct.unpack_from("<H", d, 6)[0]
width, speed = struct.unpack_from("<HH", d, 74)
print(size, fmt, content, hot, width, speed)' /sys/class/drm/card5/device/gpu_metrics 2>&1)
set -- $out
[ "$1 $2 $3" = "120 1 3" ] && [ "$4" -ge 26 ] && [ "$5 $6" = "16 160" ] && ok "gpu_metrics v1.3: the loaded GPU's hotspot $4 C, link x$5 at 16 GT/s" || \
  not_ok "gpu_metrics v1.3" "$out"
# python's os.write reaches write(2), so the store's errno is visible
pywrite() {
  box python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, sys.argv[2].encode()); print("ok")
except OSError as e:
    print(os.strerror(e.errno))' "$1" "$2" 2>&1
}
h=$(box sh -c "ls -d $gpu/hwmon/hwmon*")
contains "manual pwm1 is refused on the 7900 XTX" "Operation not supported" "$(pywrite "$h/pwm1_enable" 1)"
contains "pwm1 without manual mode is refused" "Invalid argument" "$(pywrite "$h/pwm1" 100)"
contains "a power cap out of range is refused" "Invalid argument" "$(pywrite "$h/power1_cap" 5)"
equals "a power cap in range is taken" "ok" "$(pywrite "$h/power1_cap" 330000000)"
equals "the new cap reads back" "330000000" "$(box cat "$h/power1_cap")"
contains "a read-only attribute refuses writes" "Permission denied" "$(pywrite "$gpu/gpu_busy_percent" 5)"
contains "a fan-curve point out of range is refused" "Invalid argument" "$(pywrite "$gpu/gpu_od/fan_ctrl/fan_curve" "2 150 50")"
box sh -c "echo '0 35 25' > $gpu/gpu_od/fan_ctrl/fan_curve && echo c > $gpu/gpu_od/fan_ctrl/fan_curve"
contains "a fan curve written with echo and committed reads back" "0: 35C 25%" "$(box cat $gpu/gpu_od/fan_ctrl/fan_curve)"
contains "a curve with falling temperatures is refused at commit" "Invalid argument" \
  "$(box sh -c "echo '1 30 40' > $gpu/gpu_od/fan_ctrl/fan_curve"; pywrite "$gpu/gpu_od/fan_ctrl/fan_curve" c)"

sio=$(box sh -c 'for d in /sys/class/hwmon/hwmon*; do [ "$(cat $d/name)" = nct6798 ] && echo $d; done')
box sh -c "echo 1 > $sio/pwm2_enable; echo 40 > $sio/pwm2"
sleep 3
rpm=$(box cat "$sio/fan2_input")
[ "$rpm" -gt 0 ] && [ "$rpm" -lt 1000 ] && ok "a chassis fan in manual mode slows to its pwm ($rpm rpm)" || not_ok "a chassis fan slows to its pwm" "$rpm"
contains "a chassis pwm mode the chip lacks is refused" "Invalid argument" "$(pywrite "$sio/pwm2_enable" 3)"

check "a GPU fan stalls" "$tb" sim fault 1 fan-stall
check "a GPU loses its cooling" "$tb" sim fault 2 thermal-runaway
check "a link trains at x8" "$tb" sim fault 3 link 8 8
sleep 3
h1=$(box sh -c 'ls -d /sys/class/drm/card1/device/hwmon/hwmon*')
equals "a stalled GPU fan reads 0 rpm" "0" "$(box cat "$h1/fan1_input")"
j2=$(box sh -c 'cat /sys/class/drm/card2/device/hwmon/hwmon*/temp2_input')
j0=$(box sh -c 'cat /sys/class/drm/card0/device/hwmon/hwmon*/temp2_input')
[ "$j2" -gt $((j0 + 5000)) ] && ok "a GPU that lost its cooling heats up ($j2 vs $j0 m°C)" || not_ok "thermal runaway heats the GPU" "$j2 vs $j0"
# gpu_metrics' throttle_status (offset 68, the SMU's THROTTLER_*_BIT) and indep_throttle_status
# (offset 112, smu_types.h's): PPT0 on the GPU held at its cap, nothing on the idle one
throttle() { box python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
print("%x %x" % (struct.unpack_from("<I", d, 68)[0], struct.unpack_from("<Q", d, 112)[0]))' "/sys/class/drm/card$1/device/gpu_metrics" 2>&1; }
t2=$(throttle 2); t0=$(throttle 0)
[ $(( 0x${t2%% *} & 0x10000 )) != 0 ] && [ $(( 0x${t2##* } & 1 )) = 1 ] && [ "$t0" = "0 0" ] &&
  ok "gpu_metrics: the GPU at its power cap shows the PPT0 throttler ($t2), the idle one none ($t0)" ||
  not_ok "gpu_metrics throttle status" "GPU 2: $t2, GPU 0: $t0"
contains "lspci shows the degraded link" "Width x8" "$(box lspci -vv -s 63:00.0 2>/dev/null | grep LnkSta:)"
equals "the link width file shows it too" "8" "$(box cat /sys/bus/pci/devices/0000:63:00.0/current_link_width)"
check_fails "an unknown fault kind is refused" "$tb" sim fault 0 melt
check_fails "a fault on a GPU that does not exist is refused" "$tb" sim fault 7 hang
check_fails "a link width that does not exist is refused" "$tb" sim fault 0 link 3 8
check "faults clear" "$tb" sim fault clear
sleep 1
equals "the link is back after clear" "16" "$(box cat /sys/bus/pci/devices/0000:63:00.0/current_link_width)"
