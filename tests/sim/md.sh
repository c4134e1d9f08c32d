#!/bin/sh
# md RAID0 on the box through the unmodified tools: mdadm create / detail /
# examine / stop / assemble, /proc/mdstat and md's sysfs, raid0's mapping
# over the members, mkfs.ext4 / e2fsck / blkid / wipefs / mount on the
# array, two readers at once, libtbstore's direct path against /dev/md0,
# a member gone, and nothing (loop device, FUSE mount) left when the box stops.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
box() { timeout 60 "$tb" sim run -- "$@"; }
mnt="$box_state.mnt"
data="$box_state.data"
# what md0 leaves if anything goes wrong: the mount, its FUSE mount and loop device
cleanup() {
  umount -l "$mnt" 2>/dev/null; rmdir "$mnt" 2>/dev/null
  "$tb" sim stop >/dev/null 2>&1
  detach_drives
  rm -rf "$box_state" "$data"
}
trap cleanup EXIT
# raid JSON EXPR: EXPR over `tb raid status --json` (as r), printed
raid() { box tb raid status --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
# tb-stored's Prometheus textfile on the box, as it writes it at start
metrics() {
  box sh -c "tb-stored --socket '$box_state.sock' --root / --metrics '$box_state.prom' 2>/dev/null & p=\$!
    i=0; while [ ! -s '$box_state.prom' ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i + 1)); done
    kill \$p; wait \$p; cat '$box_state.prom'; rm -f '$box_state.prom'"
}
members="/dev/nvme0n1 /dev/nvme1n1 /dev/nvme2n1 /dev/nvme3n1"
md=/sys/block/md0/md

out=$("$tb" sim start --drive-size 64M 2>&1) || { not_ok "the box starts with 64 MiB drives" "$out"; exit 1; }
ok "the box starts with 64 MiB drives"
equals "no array yet: /proc/mdstat" "Personalities : 
unused devices: <none>" "$(box cat /proc/mdstat)"
equals "no array yet: md0 is clear" clear "$(box cat $md/array_state)"
contains "no array yet: tb raid status finds none" "no md arrays found" "$(box tb raid status)"

# create, as the appliance's installer does
check "mdadm --create a RAID0 over the four data drives" box mdadm --create /dev/md0 --level=0 --raid-devices=4 \
  --chunk=512 --metadata=1.2 $members
out=$(box cat /proc/mdstat)
contains "/proc/mdstat: md0 active with its four members" \
  "md0 : active raid0 nvme3n1[3] nvme2n1[2] nvme1n1[1] nvme0n1[0]" "$out"
contains "/proc/mdstat: size, superblock and chunk" "253952 blocks super 1.2 512k chunks" "$out"
equals "sysfs: level" raid0 "$(box cat $md/level)"
equals "sysfs: raid_disks" 4 "$(box cat $md/raid_disks)"
equals "sysfs: chunk_size" 524288 "$(box cat $md/chunk_size)"
equals "sysfs: metadata_version" 1.2 "$(box cat $md/metadata_version)"
equals "sysfs: array_state" clean "$(box cat $md/array_state)"
equals "sysfs: a member's slot" 2 "$(box cat $md/dev-nvme2n1/slot)"
equals "sysfs: a member's state" in_sync "$(box cat $md/dev-nvme2n1/state)"
equals "sysfs: the member's block device" nvme2n1 "$(box sh -c "basename \$(readlink -f $md/dev-nvme2n1/block)")"
equals "sysfs: md0 holds its members" md0 "$(box ls /sys/block/nvme1n1/holders)"
off=$(box mdadm --examine /dev/nvme1n1 | sed -n 's/^ *Data Offset : \([0-9]*\) sectors/\1/p')
equals "sysfs: a member's data offset is the superblock's" "$off" "$(box cat $md/dev-nvme1n1/offset)"
equals "md0's size: four members' data, in sectors" 507904 "$(box cat /sys/block/md0/size)"
equals "the block device has that size" 260046848 "$(box blockdev --getsize64 /dev/md0)"
out=$(box mdadm --detail /dev/md0 2>&1)
contains "mdadm --detail: RAID0" "Raid Level : raid0" "$out"
contains "mdadm --detail: four devices" "Raid Devices : 4" "$out"
contains "mdadm --detail: chunk" "Chunk Size : 512K" "$out"
contains "mdadm --detail: clean" "State : clean" "$out"
contains "mdadm --detail: a member active" "3       7" "$out"
contains "mdadm --detail: names the member" "active sync   /dev/nvme3n1" "$out"
out=$(box mdadm --examine /dev/nvme2n1 2>&1)
contains "mdadm --examine: the member's role" "Device Role : Active device 2" "$out"
contains "mdadm --examine: the checksum is right" "- correct" "$out"
check "tb raid status: healthy" box tb raid status
equals "tb raid status --json: md0, raid0, clean, 4 disks, 512 KiB chunks" "md0 raid0 clean 4 524288" \
  "$(raid '" ".join(str(x) for x in (r["arrays"][0]["name"], r["arrays"][0]["level"], r["arrays"][0]["state"], r["arrays"][0]["raid_disks"], r["arrays"][0]["chunk_bytes"]))')"
equals "tb raid status --json: four members in sync" "nvme0n1 nvme1n1 nvme2n1 nvme3n1 in_sync" \
  "$(raid '" ".join(sorted(m["device"] for m in r["arrays"][0]["members"])) + " " + " ".join(sorted(set(m["state"] for m in r["arrays"][0]["members"])))')"
out=$(metrics)
contains "tb-stored exports the array's state" 'tb_stored_md_array_state{array="md0",level="raid0",state="clean"} 1' "$out"
contains "tb-stored exports the members" 'tb_stored_md_member_faulty{array="md0",member="nvme2n1"} 0' "$out"
contains "tb-stored exports drive health" 'tb_stored_nvme_critical_warning{drive="nvme1"} 0' "$out"
contains "tb-stored exports media errors" 'tb_stored_nvme_media_errors_total{drive="nvme3"} 0' "$out"
check "fault nvme1 thermal" "$tb" sim fault nvme1 thermal
check_fails "tb raid status: an overheating member is not healthy" box tb raid status
contains "tb raid status names the drive" "Samsung SSD 990 PRO 2TB         87 C  warning 0x02" "$(box tb raid status)"
contains "tb-stored exports its critical warning" 'tb_stored_nvme_critical_warning{drive="nvme1"} 2' "$(metrics)"
check "fault nvme1 clear" "$tb" sim fault nvme1 clear
check_fails "a member is held by md (mkfs refuses it)" box mkfs.ext4 -q -F /dev/nvme1n1

# blocks through raid0's mapping: chunk c on member c % 4 at chunk c / 4
head -c 3145728 /dev/urandom >"$data"
check "a write through /dev/md0 (fsync)" box dd if="$data" of=/dev/md0 bs=1M conv=fsync status=none
equals "a read through /dev/md0 returns it" "$(cksum <"$data")" "$(box dd if=/dev/md0 bs=1M count=3 status=none | cksum)"
equals "chunk 3 is member 3's first" "$(dd if="$data" bs=512k skip=3 count=1 status=none | cksum)" \
  "$(box dd if=/dev/nvme3n1 bs=512 skip="$off" count=1024 iflag=direct status=none | cksum)"
equals "chunk 4 is member 0's second" "$(dd if="$data" bs=512k skip=4 count=1 status=none | cksum)" \
  "$(box dd if=/dev/nvme0n1 bs=512 skip=$((off + 1024)) count=1024 iflag=direct status=none | cksum)"
check_fails "a write past the array's end fails" box dd if=/dev/zero of=/dev/md0 bs=1M seek=248 count=1 oflag=direct status=none
tap_run "md direct path:" box "$TB_BUILD/tests/md_direct_test" /dev/md0 /dev/nvme2n1 /dev/nvme0n1 /dev/nvme3n1 /dev/nvme1n1
out=$(box sh -c 'dd if=/dev/md0 bs=1M count=3 iflag=direct status=none | cksum > /tmp/r1 &
  dd if=/dev/md0 bs=1M count=3 iflag=direct status=none | cksum > /tmp/r2; wait; cat /tmp/r1 /tmp/r2' 2>&1)
equals "two processes read the array at once" "$(cksum <"$data")
$(cksum <"$data")" "$out"

# a filesystem on it
check "mkfs.ext4 on the array" box mkfs.ext4 -q -F -L weights /dev/md0
check "e2fsck finds it clean" box e2fsck -fn /dev/md0
out=$(box blkid /dev/md0)
contains "blkid: ext4 labelled weights" 'LABEL="weights"' "$out"
contains "blkid: ext4" 'TYPE="ext4"' "$out"
uuid=$(box blkid -s UUID -o value /dev/md0)
contains "wipefs lists the ext4 signature" "ext4 $uuid weights" "$(box wipefs /dev/md0)"
mkdir -p "$mnt"
out=$(box sh -c "mount /dev/md0 '$mnt' && '$tb' store make-test-file '$mnt/m.safetensors' --size 12M >/dev/null &&
  '$tb' store manifest '$mnt/m.safetensors' >/dev/null && '$tb' load '$mnt/m.safetensors' --verify --json
  # io_uring lets its files go after the process ends, not at once: umount may find them busy
  i=0; until umount '$mnt' 2>/dev/null; do i=\$((i + 1)); [ \$i -gt 100 ] && exit 1; sleep 0.1; done; echo unmounted" 2>&1)
contains "tb load --verify of a model on the mounted array" '"verified":true' "$out"
contains "the array's filesystem unmounts" unmounted "$out"

# stop and assemble, also after a restart of the box
check "mdadm --stop" box mdadm --stop /dev/md0
equals "stopped: /proc/mdstat has no md0" "Personalities : [raid0] 
unused devices: <none>" "$(box cat /proc/mdstat)"
equals "stopped: md0 is empty" 0 "$(box blockdev --getsize64 /dev/md0)"
check "stopped: the members are free" box python3 -c 'import os; os.close(os.open("/dev/nvme1n1", os.O_RDWR | os.O_EXCL))'
check_fails "assembling three of four members does not start raid0" box mdadm --assemble --run /dev/md0 \
  /dev/nvme0n1 /dev/nvme1n1 /dev/nvme2n1
box mdadm --stop /dev/md0 >/dev/null 2>&1
check "mdadm --assemble" box mdadm --assemble /dev/md0 $members
equals "assembled: the filesystem is there" "$uuid" "$(box blkid -s UUID -o value /dev/md0)"
check "mdadm --stop again" box mdadm --stop /dev/md0
check "the box stops" "$tb" sim stop
equals "no loop device is left on md0's or the drives' files" "" "$(losetup -l -n -O BACK-FILE | grep -F "$box_state/")"
equals "md0's FUSE file system is unmounted" "" "$(grep " $box_state/md " /proc/mounts)"
out=$("$tb" sim start --drive-size 64M 2>&1) || not_ok "the box starts again" "$out"
check "mdadm --assemble --scan finds the array on the drives" box mdadm --assemble --scan
contains "mdadm --detail --scan names it /dev/md/0" "ARRAY /dev/md/0 metadata=1.2" "$(box mdadm --detail --scan)"
equals "/dev/md/0 is md0" /dev/md0 "$(box readlink -f /dev/md/0)"
check "e2fsck through /dev/md/0" box e2fsck -fn /dev/md/0
contains "tb sim status shows the array" "array md0" "$("$tb" sim status)"

# a media error on a member: the array's reads of that chunk fail, raid0 carries on
check "fault nvme1 media-error at its first data block" "$tb" sim fault nvme1 media-error "$off"
check_fails "a read of the array's chunk 1 (nvme1's first) fails" box dd if=/dev/md0 of=/dev/null bs=512k skip=1 count=1 \
  iflag=direct status=none
check "a read of chunk 0 works" box dd if=/dev/md0 of=/dev/null bs=512k count=1 iflag=direct status=none
equals "a read error does not fail a raid0" clean "$(box cat $md/array_state)"
equals "the member's SMART log counts it" 1 "$(raid '[d for d in r["drives"] if d["name"] == "nvme1"][0]["media_errors"]')"
check "fault nvme1 clear" "$tb" sim fault nvme1 clear

# tb load of a model on the array's filesystem with a bad block under one of
# its tensors: the error names the drive, the LBA and the tensor.  Where the
# byte lives is worked out here from filefrag (the filesystem's extents),
# mdadm --examine (the data offset) and mdadm --detail (the members' order).
cat >"$box_state.where.py" <<'PY'
import re, subprocess, sys
path, off = sys.argv[1], int(sys.argv[2])
ext = subprocess.run(["filefrag", "-e", "-b512", path], capture_output=True, text=True).stdout
for m in re.finditer(r"^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.", ext, re.M):
    lo, hi, phys = (int(g) for g in m.groups())
    if lo <= off // 512 <= hi:
        byte = (phys + off // 512 - lo) * 512 + off % 512
        break
det = subprocess.run(["mdadm", "--detail", "/dev/md0"], capture_output=True, text=True).stdout
order = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\s+\d+\s+\d+\s+\d+\s+(\d+)\s+active sync\s+/dev/(\S+)$", det, re.M)}
ex = subprocess.run(["mdadm", "--examine", "/dev/" + order[0]], capture_output=True, text=True).stdout
data_off = int(re.search(r"Data Offset : (\d+) sectors", ex).group(1)) * 512
chunk, n = 512 * 1024, len(order)
c = byte // chunk
print(order[c % n][:-2], (data_off + c // n * chunk + byte % chunk) // 512)
PY
mkdir -p "$mnt"
out=$(box sh -c "mount /dev/md0 '$mnt' && python3 '$box_state.where.py' '$mnt/m.safetensors' $((8 << 20))
  i=0; until umount '$mnt' 2>/dev/null; do i=\$((i + 1)); [ \$i -gt 100 ] && exit 1; sleep 0.1; done" 2>&1)
bad_drive=${out% *}; bad_lba=${out#* }
case $bad_drive$bad_lba in nvme[0-3][0-9]*) ok "the byte 8 MiB into the model is on $bad_drive LBA $bad_lba" ;;
  *) not_ok "where the model's byte lives" "$out" ;; esac
"$tb" sim fault "$bad_drive" media-error "$bad_lba" >/dev/null
out=$(box sh -c "mount /dev/md0 '$mnt' && '$tb' load '$mnt/m.safetensors' --to null; echo status \$?
  i=0; until umount '$mnt' 2>/dev/null; do i=\$((i + 1)); [ \$i -gt 100 ] && exit 1; sleep 0.1; done" 2>&1)
contains "tb load fails on the bad block" "status 1" "$out"
contains "... naming the drive, its serial and the LBA" "on ${bad_drive}n1 (Samsung SSD 990 PRO 2TB, serial S6B0NL0T00010$((${bad_drive#nvme} + 1))) LBA $bad_lba" "$out"
contains "... and the tensor" "tensor '" "$out"
check "fault clear" "$tb" sim fault "$bad_drive" clear

# a member gone: its chunks fail, md says which member
check "fault nvme2 gone" "$tb" sim fault nvme2 gone
check_fails "a read of a chunk on the gone member fails" box dd if=/dev/md0 of=/dev/null bs=512k skip=2 count=1 \
  iflag=direct status=none
check "a read of a chunk on a live member works" box dd if=/dev/md0 of=/dev/null bs=512k skip=1 count=1 \
  iflag=direct status=none
equals "md0 is broken" broken "$(box cat $md/array_state)"
equals "the gone member is faulty" faulty "$(box cat $md/dev-nvme2n1/state)"
contains "/proc/mdstat marks the member failed" "nvme2n1[2](F)" "$(box cat /proc/mdstat)"
contains "/proc/mdstat marks it broken" "md0 : broken raid0 " "$(box cat /proc/mdstat)"
contains "the kernel log names it" "md/raid0:md0: Disk failure on nvme2n1 detected, failing array." "$("$tb" sim status)"
check_fails "tb raid status: the array is not healthy" box tb raid status
equals "tb raid status --json: md0 broken, nvme2n1 faulty" "broken faulty" \
  "$(raid 'r["arrays"][0]["state"] + " " + [m["state"] for m in r["arrays"][0]["members"] if m["device"] == "nvme2n1"][0]')"
equals "tb raid status --json: nvme2's SMART log is unreadable" True \
  "$(raid '"smart_error" in [d for d in r["drives"] if d["name"] == "nvme2"][0]')"
out=$(metrics)
contains "tb-stored exports the broken array" 'tb_stored_md_array_state{array="md0",level="raid0",state="broken"} 1' "$out"
contains "tb-stored exports the faulty member" 'tb_stored_md_member_faulty{array="md0",member="nvme2n1"} 1' "$out"
contains "tb-stored exports the unreadable drive" 'tb_stored_nvme_smart_readable{drive="nvme2"} 0' "$out"
check "fault clear" "$tb" sim fault clear
check "mdadm --stop the broken array" box mdadm --stop /dev/md0
