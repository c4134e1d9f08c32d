#!/bin/sh
# The box's NVMe drives through the unmodified tools: sysfs as the nvme
# driver lays it out, lspci, real block devices (O_DIRECT, io_uring),
# nvme-cli's admin commands, the drive faults, and no loop device left
# behind when the box stops.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
box() { "$tb" sim run -- "$@"; }

out=$("$tb" sim start --drive-size 12M 2>&1); rc=$?
[ $rc = 2 ] && ok "a drive size below 16 MiB is refused" || not_ok "a drive size below 16 MiB is refused" "$rc: $out"
out=$("$tb" sim start --drive-size 64Mx 2>&1); rc=$?
[ $rc = 2 ] && ok "a drive size with a bad suffix is refused" || not_ok "a drive size with a bad suffix is refused" "$rc: $out"
for order in 4,2,0 0,0,1,2,3 0,1,2,3,5 0,1,2,3,4, 0,1,2,34 "" 0,1,2,3,4,0; do
  out=$("$tb" sim start --drive-order "$order" 2>&1); rc=$?
  [ $rc = 2 ] && contains "--drive-order '$order' is refused" "expected the slots 0 to 4, each once" "$out" ||
    not_ok "--drive-order '$order' is refused" "$rc: $out"
done
out=$("$tb" sim start --drive-size 64M 2>&1) || { not_ok "the box starts with 64 MiB drives" "$out"; exit 1; }
ok "the box starts with 64 MiB drives"

# sysfs
c=/sys/class/nvme/nvme0
equals "controller model" "Samsung SSD 990 PRO 2TB" "$(box cat $c/model)"
equals "controller serial" "S6B0NL0T000101" "$(box cat $c/serial)"
equals "controller firmware" "4B2QJXD7" "$(box cat $c/firmware_rev)"
equals "controller address" "0000:c1:00.0" "$(box cat $c/address)"
equals "controller state" "live" "$(box cat $c/state)"
equals "controller transport" "pcie" "$(box cat $c/transport)"
equals "the boot drive is nvme4" "Samsung SSD 980 PRO 500GB" "$(box cat /sys/class/nvme/nvme4/model)"
equals "namespace size in sectors" "131072" "$(box cat /sys/block/nvme0n1/size)"
equals "logical block size" "512" "$(box cat /sys/block/nvme0n1/queue/logical_block_size)"
equals "max_hw_sectors_kb" "128" "$(box cat /sys/block/nvme0n1/queue/max_hw_sectors_kb)"
equals "the disk's device is its controller" "S6B0NL0T000103" "$(box cat /sys/block/nvme2n1/device/serial)"
equals "the controller's device is its PCI function" "0x010802" "$(box cat $c/device/class)"
equals "sysfs dev and the node agree" "$(box cat /sys/block/nvme3n1/dev)" "$(box stat -c '%Hr:%Lr' /dev/nvme3n1)"

# lspci: five NVMe controllers behind root ports, 16 GT/s x4
out=$(box lspci -d ::0108 2>&1)
equals "lspci shows five NVMe controllers" 5 "$(printf '%s\n' "$out" | grep -c 'Non-Volatile memory controller')"
out=$(box lspci -vv -s c3:00.0 2>&1)
contains "an NVMe link at 16 GT/s x4" "LnkSta:	Speed 16GT/s, Width x4" "$out"
contains "lspci names the driver" "Kernel driver in use: nvme" "$out"
out=$(box lspci -t 2>&1)
contains "each drive behind its root port" "+-01.3-[c3]----00.0" "$out"

# block devices: lsblk, by-id, O_DIRECT and io_uring on real block semantics
out=$(box lsblk -dnP -o NAME,SIZE,MODEL,SERIAL 2>&1)
contains "lsblk lists the drives with model and serial" 'NAME="nvme1n1" SIZE="64M" MODEL="Samsung SSD 990 PRO 2TB" SERIAL="S6B0NL0T000102"' "$out"
equals "by-id names the drive by model and serial" "/dev/nvme1n1" \
  "$(box readlink -f /dev/disk/by-id/nvme-Samsung_SSD_990_PRO_2TB_S6B0NL0T000102)"
data="$box_state.data"
head -c 1048576 /dev/urandom >"$data"
check "an O_DIRECT write" box dd if="$data" of=/dev/nvme2n1 bs=64k seek=16 oflag=direct status=none
got=$(box dd if=/dev/nvme2n1 bs=64k skip=16 count=16 iflag=direct status=none | cksum)
equals "an O_DIRECT read returns what was written" "$(cksum <"$data")" "$got"
check_fails "a misaligned O_DIRECT read is refused" box dd if=/dev/nvme2n1 of=/dev/null bs=100 count=1 iflag=direct
check_fails "a write past the end fails" box dd if=/dev/zero of=/dev/nvme2n1 bs=1M seek=64 count=1 oflag=direct status=none
out=$(box fio --name=w --filename=/dev/nvme3n1 --ioengine=io_uring --direct=1 --rw=write --bs=128k --size=8M \
  --verify=crc32c --do_verify=1 --verify_state_save=0 --output-format=terse 2>&1); rc=$?
[ $rc = 0 ] && ok "io_uring writes and verified reads (fio)" || not_ok "io_uring writes and verified reads (fio)" "$out"
rm -f "$data"

# tb sim status
out=$("$tb" sim status 2>&1)
contains "tb sim status lists the drives" "nvme4  0000:c5:00.0  boot" "$out"
out=$("$tb" sim status --json 2>&1)
equals "tb sim status --json lists five drives" 5 "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["box"]["drives"]))')"

# nvme-cli, unmodified
out=$(box nvme list 2>&1)
for i in 0 1 2 3 4; do
  contains "nvme list shows nvme${i}n1" "/dev/nvme${i}n1" "$out"
done
contains "nvme list shows the namespace size and format" "67.11  MB /  67.11  MB    512   B +  0 B   4B2QJXD7" "$out"
out=$(box nvme id-ctrl /dev/nvme1 2>&1)
contains "id-ctrl: the model" "mn        : Samsung SSD 990 PRO 2TB" "$out"
contains "id-ctrl: the serial" "sn        : S6B0NL0T000102" "$out"
contains "id-ctrl: the transfer limit" "mdts      : 5" "$out"
out=$(box nvme id-ns /dev/nvme1n1 2>&1)
contains "id-ns: the size in blocks" "nsze    : 0x20000" "$out"
contains "id-ns: the EUI-64" "eui64   : 0025385a00000011" "$out"
out=$(box nvme smart-log /dev/nvme0 -o json 2>&1)
t=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["temperature"] - 273)')
h=$(box sh -c 'cat /sys/class/nvme/nvme0/device/hwmon/hwmon*/temp1_input')
[ -n "$t" ] && [ $((t * 1000 - h)) -le 1000 ] && [ $((h - t * 1000)) -le 1000 ] && \
  ok "smart-log temperature is the thermal plant's ($t C, hwmon $h)" || not_ok "smart-log temperature is the thermal plant's" "$t / $h: $out"
equals "smart-log: no critical warning" 0 "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["critical_warning"])')"
box dd if=/dev/nvme0n1 of=/dev/null bs=1M count=8 iflag=direct status=none
out=$(box nvme smart-log /dev/nvme0 -o json 2>&1)
dur=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_units_read"])')
[ "${dur:-0}" -ge 16 ] && ok "smart-log counts the data read ($dur units)" || not_ok "smart-log counts the data read" "$out"
out=$(box nvme error-log /dev/nvme0 -e 4 2>&1)
contains "error-log: no errors" "error_count	: 0" "$out"
out=$(box nvme fw-log /dev/nvme4 2>&1)
contains "fw-log: the active slot's firmware" "frs1 : 0x3741584751324235 (5B2QGXA7)" "$out"

# faults
check "fault nvme1 thermal" "$tb" sim fault nvme1 thermal
out=$(box nvme smart-log /dev/nvme1 -o json 2>&1)
equals "thermal: critical warning (temperature)" 2 "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["critical_warning"])')"
t=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["temperature"] - 273)')
[ "${t:-0}" -ge 85 ] && ok "thermal: the temperature is above critical ($t C)" || not_ok "thermal: the temperature is above critical" "$out"
out=$(box tb raid status --json 2>&1)
equals "tb raid status reads the overheating drive's SMART log through libnvme" "5 2 87" "$(printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)["drives"]
n1 = [x for x in d if x["name"] == "nvme1"][0]
print(len(d), n1["critical_warning"], n1["temperature_c"])')"
check "fault nvme2 gone" "$tb" sim fault nvme2 gone
equals "gone: the controller is dead" dead "$(box cat /sys/class/nvme/nvme2/state)"
check_fails "gone: its admin commands fail" box nvme smart-log /dev/nvme2
out=$(box lspci -s c3:00.0 -x 2>&1)
contains "gone: its configuration space reads all ones" "00: ff ff ff ff" "$out"
check_fails "gone: its namespace's reads fail" box dd if=/dev/nvme2n1 of=/dev/null bs=4k count=1 iflag=direct status=none
check_fails "an unknown drive fault is refused" "$tb" sim fault nvme2 melt
check_fails "a fault on a drive that does not exist is refused" "$tb" sim fault nvme9 thermal
check "fault clear" "$tb" sim fault clear
equals "clear: the controller is live again" live "$(box cat /sys/class/nvme/nvme2/state)"
out=$(box nvme smart-log /dev/nvme1 -o json 2>&1)
equals "clear: no critical warning" 0 "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["critical_warning"])')"

# media errors and a slow drive, through the namespace's loop device
check "fault nvme1 media-error 2048-2055" "$tb" sim fault nvme1 media-error 2048-2055
check_fails "media-error: a read of LBA 2048 fails" box dd if=/dev/nvme1n1 of=/dev/null bs=4k skip=256 count=1 \
  iflag=direct status=none
check "media-error: a read elsewhere works" box dd if=/dev/nvme1n1 of=/dev/null bs=4k skip=300 count=1 \
  iflag=direct status=none
out=$(box nvme error-log /dev/nvme1 -e 1 2>&1)
contains "media-error: the error log has the LBA" "lba		: 0x800" "$out"
contains "media-error: as an unrecovered read error" "status_field	: 0x281(Unrecovered Read Error" "$out"
equals "media-error: SMART counts it" 1 \
  "$(box nvme smart-log /dev/nvme1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["media_errors"])')"
contains "media-error: the kernel log says it" "critical medium error, dev nvme1n1, sector 2048 op 0x0:(READ)" \
  "$("$tb" sim status)"
check_fails "media-error: tb raid status says the drive needs attention" box tb raid status
contains "media-error: tb raid status counts it" "media errors 1  <- attention" "$(box tb raid status 2>&1)"
for bad in "media-error 131072" "media-error 9-3" "media-error x" "media-error" "slow 0" "slow 1001" "slow" "thermal 2"; do
  check_fails "fault nvme1 $bad is refused" "$tb" sim fault nvme1 $bad
done
check "fault nvme0 slow 20" "$tb" sim fault nvme0 slow 20
contains "slow: tb sim status says it" "SLOW /20" "$("$tb" sim status)"
got=$(box dd if=/dev/nvme0n1 bs=1M count=4 iflag=direct status=none | cksum)
equals "slow: reads still return the blocks" "$(box dd if=/dev/nvme0n1 bs=1M count=4 status=none | cksum)" "$got"
check "fault clear ends media errors and slowness" "$tb" sim fault clear
check "clear: LBA 2048 reads again" box dd if=/dev/nvme1n1 of=/dev/null bs=4k skip=256 count=1 iflag=direct status=none
line=$("$tb" sim status | grep '^nvme0 ')
case $line in *SLOW*|"") not_ok "clear: nvme0 is no longer slow" "$line" ;; *) ok "clear: nvme0 is no longer slow" ;; esac

# the blocks outlive a restart; the loop devices do not outlive the box
check "the box stops" "$tb" sim stop
equals "no loop device is left on the box's drives" "" "$(losetup -l -n -O BACK-FILE | grep -F "$box_state/")"
equals "the drives' FUSE file system is unmounted" "" "$(grep " $box_state/blk " /proc/mounts)"
out=$("$tb" sim start --drive-size 64M 2>&1) || not_ok "the box starts again" "$out"
got=$(box dd if=/dev/nvme3n1 bs=128k count=1 iflag=direct status=none | cksum)
"$tb" sim stop >/dev/null 2>&1
[ "$got" != "$(head -c 131072 /dev/zero | cksum)" ] && ok "a drive keeps its blocks across a restart" || \
  not_ok "a drive keeps its blocks across a restart" "$got"
