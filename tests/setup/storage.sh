#!/bin/sh
# tb setup's storage step on the box's drives, the box's boot drive (found
# by setup from the target root's filesystem) holding the target root:
# a plan changes nothing; apply builds the array, its ext4, fstab,
# mdadm.conf and the mount, keeping the fixture files' other lines; a
# second apply changes nothing; verify passes (and fails on a probe floor
# no drive reaches); after a stop the array is assembled, not rebuilt;
# a foreign filesystem on a data drive is refused (exit 2, nothing
# changed) until its serial is listed in wipe.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
t="$box_state.t"
root="$t/root"
cleanup() {
  "$tb" sim stop >/dev/null 2>&1
  detach_drives
  rm -rf "$box_state" "$t"
}
trap cleanup EXIT
mkdir -p "$root"
# in SCRIPT, the target root is mounted from the boot drive, as on the appliance
# (named by serial: the kernel's name for it depends on the order it probes the drives in)
boot=/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_500GB_S6B0NL0T000105
on_box() { timeout 120 "$tb" sim run -- sh -c "mount $boot '$root' && $1" 2>&1; }
setup() { printf '"%s" setup %s --root "%s" --config "%s/%s"' "$tb" "$1" "$root" "$t" "${2:-setup.conf}"; }
# the steps after storage are other tests' business
others='[setup]\nskip = power, fans, services, access, final\n'
printf "$others[storage]\nprobe_floor_mbps = 1\nprobe_mib = 64\n" >"$t/setup.conf"
printf "$others[storage]\nprobe_floor_mbps = 1000000\nprobe_mib = 64\n" >"$t/floor.conf"
printf "$others[storage]\nprobe_floor_mbps = 1\nprobe_mib = 64\nwipe = S6B0NL0T000103\n" >"$t/wipe.conf"
cat >"$t/fstab" <<'EOF'
# /etc/fstab: static file system information.
UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1
#UUID=0a1b2c3d-0000-4000-8000-000000000009 /raid ext4 defaults 0 2
/dev/sdb1 /raid2 ext4 defaults,nofail 0 2
UUID=0a1b2c3d-0000-4000-8000-0000000000ff /raid ext4 defaults 0 2
tmpfs /mnt/raid tmpfs defaults 0 0
EOF
cat >"$t/mdadm.conf" <<'EOF'
# mdadm.conf: the arrays the initramfs assembles
HOMEHOST <system>
MAILADDR root
ARRAY /dev/md/other metadata=1.2 UUID=aaaaaaaa:bbbbbbbb:cccccccc:dddddddd name=x:other
EOF
data="/dev/nvme0n1 /dev/nvme1n1 /dev/nvme2n1 /dev/nvme3n1"

out=$("$tb" sim start --drive-size 64M 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ok "the box starts"
out=$(timeout 60 "$tb" sim run -- sh -c "mkfs.ext4 -q -F /dev/nvme4n1 && mount /dev/nvme4n1 '$root' &&
  mkdir -p '$root/etc/mdadm' && cp '$t/fstab' '$root/etc/fstab' && cp '$t/mdadm.conf' '$root/etc/mdadm/'" 2>&1)
equals "the target root on the boot drive, with fixture fstab and mdadm.conf" "" "$out"

# plan, apply, apply, verify in one run of the box (the mount lives as long as it)
out=$(on_box "$(setup plan) >'$t/plan.out'; echo \$? >'$t/plan.rc'
  for d in $data; do mdadm --examine \$d; done >'$t/examine.out' 2>&1
  cat /sys/block/md0/md/array_state >'$t/state.out'
  cmp '$root/etc/fstab' '$t/fstab' && cmp '$root/etc/mdadm/mdadm.conf' '$t/mdadm.conf' && echo same >'$t/files.out'
  $(setup apply) >'$t/apply.out'; echo \$? >'$t/apply.rc'
  $(setup apply) >'$t/apply2.out'; echo \$? >'$t/apply2.rc'
  $(setup verify) >'$t/verify.out'; echo \$? >'$t/verify.rc'
  $(setup verify floor.conf) >'$t/floor.out'; echo \$? >'$t/floor.rc'
  blkid -p -s UUID -o value /dev/md0 >'$t/fsuuid'
  mdadm --detail --export /dev/md0 | sed -n 's/^MD_UUID=//p' >'$t/mduuid'
  readlink -f /dev/disk/by-uuid/\$(cat '$t/fsuuid') >'$t/link'
  findmnt -n -o SOURCE '$root/raid' >'$t/mnt'
  dumpe2fs -h /dev/md0 2>/dev/null >'$t/dumpe2fs'
  cat /proc/mdstat >'$t/mdstat'
  echo weights >'$root/raid/marker'")
equals "plan: exit 0" 0 "$(cat "$t/plan.rc")"
contains "plan: would create the array over the four data drives by serial" \
  "would: create RAID0 /dev/md0 'raid' over 4 drives (S6B0NL0T000101, S6B0NL0T000102, S6B0NL0T000103, S6B0NL0T000104)" \
  "$(cat "$t/plan.out")"
equals "plan: no md superblock written on any data drive" 4 "$(grep -c 'No md superblock detected' "$t/examine.out")"
equals "plan: no array runs" clear "$(cat "$t/state.out")"
equals "plan: fstab and mdadm.conf untouched" same "$(cat "$t/files.out" 2>/dev/null)"
equals "apply: exit 0" 0 "$(cat "$t/apply.rc")"
contains "apply: the array made" "did: create RAID0 /dev/md0" "$(cat "$t/apply.out")"
contains "apply: md0 runs RAID0 over the four data drives" \
  "md0 : active raid0 nvme3n1[3] nvme2n1[2] nvme1n1[1] nvme0n1[0]" "$(cat "$t/mdstat")"
contains "apply: 512 KiB chunks, superblock 1.2" "super 1.2 512k chunks" "$(cat "$t/mdstat")"
contains "ext4 labelled raid" "Filesystem volume name:   raid" "$(cat "$t/dumpe2fs")"
contains "ext4's stride: 512 KiB / 4 KiB" "RAID stride:              128" "$(cat "$t/dumpe2fs")"
contains "ext4's stripe width: 4 x 128" "RAID stripe width:        512" "$(cat "$t/dumpe2fs")"
uuid=$(cat "$t/fsuuid")
fstab=$(on_box "cat '$root/etc/fstab'")
equals "fstab: the /raid line of the old UUID replaced in place, every other line kept" \
  "$(sed "s|^UUID=0a1b2c3d-0000-4000-8000-0000000000ff /raid .*|UUID=$uuid /raid ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2|" "$t/fstab")" \
  "$fstab"
mdconf=$(on_box "cat '$root/etc/mdadm/mdadm.conf'")
contains "mdadm.conf: the fixture's lines kept" "$(cat "$t/mdadm.conf")" "$mdconf"
equals "mdadm.conf: one ARRAY line with the array's UUID" 1 "$(printf '%s\n' "$mdconf" | grep -c "^ARRAY /dev/md0 .*UUID=$(cat "$t/mduuid")$")"
equals "the filesystem's /dev/disk/by-uuid link is the array (as the boot finds it)" /dev/md0 "$(cat "$t/link")"
equals "mounted at ROOT/raid from the array" /dev/md0 "$(cat "$t/mnt")"
contains "a second apply changes nothing" "apply: 0 changed" "$(cat "$t/apply2.out")"
equals "a second apply: exit 0" 0 "$(cat "$t/apply2.rc")"
equals "verify: exit 0" 0 "$(cat "$t/verify.rc")"
equals "verify with a probe floor no drive reaches: exit 1" 1 "$(cat "$t/floor.rc")"
contains "verify names the probe's figure and its floor" "below probe_floor_mbps 1000000" "$(cat "$t/floor.out")"

# as after a reboot, the array is not running: it is assembled, not rebuilt
# (the box keeps its drives' blocks across restarts too; a restart costs
# this test more than the assembly it would show)
out=$(on_box "mdadm --stop /dev/md0 >/dev/null 2>&1; $(setup plan) >'$t/plan3.out'
  $(setup apply) >'$t/apply3.out'; echo \$? >'$t/apply3.rc'
  mdadm --detail --export /dev/md0 | sed -n 's/^MD_UUID=//p' >'$t/mduuid3'
  blkid -p -s UUID -o value /dev/md0 >'$t/fsuuid3'
  cat '$root/raid/marker' >'$t/marker3'
  $(setup verify) >'$t/verify3.out'; echo \$? >'$t/verify3.rc'")
contains "after a stop: plan would assemble the existing array" "would: assemble the existing array raid (UUID $(cat "$t/mduuid"))" \
  "$(cat "$t/plan3.out")"
equals "after a stop: apply exit 0" 0 "$(cat "$t/apply3.rc")"
case $(cat "$t/apply3.out") in *"create RAID0"*|*"make ext4"*) not_ok "after a stop: nothing rebuilt" "$(cat "$t/apply3.out")" ;;
  *) ok "after a stop: nothing rebuilt" ;; esac
equals "the array's UUID unchanged" "$(cat "$t/mduuid")" "$(cat "$t/mduuid3")"
equals "the filesystem's UUID unchanged" "$uuid" "$(cat "$t/fsuuid3")"
equals "the file written before the stop is there" weights "$(cat "$t/marker3")"
equals "after a stop: verify exit 0" 0 "$(cat "$t/verify3.rc")"

# a foreign filesystem on a data drive: refused, nothing changed, until listed in wipe
out=$(on_box "mdadm --stop /dev/md0 >/dev/null && wipefs -a -q $data && mkfs.ext4 -q -F -L foreign /dev/nvme2n1 &&
  cksum '$root/etc/fstab' '$root/etc/mdadm/mdadm.conf' >'$t/sum.before'
  $(setup apply) >'$t/refused.out'; echo \$? >'$t/refused.rc'
  cksum '$root/etc/fstab' '$root/etc/mdadm/mdadm.conf' >'$t/sum.after'
  mdadm --examine /dev/nvme0n1 >'$t/examine4.out' 2>&1
  blkid -p -s LABEL -o value /dev/nvme2n1 >'$t/label4'
  $(setup apply wipe.conf) >'$t/wiped.out'; echo \$? >'$t/wiped.rc'
  mdadm --examine /dev/nvme2n1 >'$t/examine5.out' 2>&1
  blkid -p -s UUID -o value /dev/md0 >'$t/fsuuid5'
  cat '$root/etc/fstab' >'$t/fstab5'; cat '$root/etc/mdadm/mdadm.conf' >'$t/mdconf5'")
equals "a foreign ext4 on a data drive: exit 2" 2 "$(cat "$t/refused.rc")"
contains "the refusal names the drive's serial and wipe" "(serial S6B0NL0T000103) carries ext4: it is not wiped unless its serial is listed in [storage] wipe" \
  "$(cat "$t/refused.out")"
equals "refused: fstab and mdadm.conf unchanged" "$(cat "$t/sum.before")" "$(cat "$t/sum.after")"
contains "refused: no md superblock written" "No md superblock detected" "$(cat "$t/examine4.out")"
equals "refused: the foreign filesystem is there" foreign "$(cat "$t/label4")"
equals "listed in wipe: exit 0" 0 "$(cat "$t/wiped.rc")"
contains "listed in wipe: wiped first" "did: wipe the signatures (ext4) off nvme-Samsung_SSD_990_PRO_2TB_S6B0NL0T000103" \
  "$(cat "$t/wiped.out")"
contains "the drive is a member of the new array" "Device Role : Active device 2" "$(cat "$t/examine5.out")"
equals "fstab: one /raid line, the new filesystem's" "UUID=$(cat "$t/fsuuid5") /raid ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2" \
  "$(awk '$1 !~ /^#/ && $2 == "/raid"' "$t/fstab5")"
equals "mdadm.conf: one ARRAY line for md0" 1 "$(grep -c '^ARRAY /dev/md0 ' "$t/mdconf5")"
case $(cat "$t/mdconf5") in *"$(cat "$t/mduuid")"*) not_ok "mdadm.conf: the old array's UUID is gone" ;; *) ok "mdadm.conf: the old array's UUID is gone" ;; esac

# the kernel names drives in the order it probes them, which can change from
# one boot to the next: restarted with the boot drive probed first (nvme0)
# and the data drives in another order, setup assembles the same four drives
# by serial, rebuilds nothing and leaves the boot drive out
"$tb" sim stop >/dev/null 2>&1; detach_drives
out=$("$tb" sim start --drive-size 64M --drive-order 4,2,0,1,3 2>&1) || not_ok "the box restarts, its drives probed in another order" "$out"
out=$(on_box "readlink -f $boot >'$t/boot6'; $(setup plan) >'$t/plan6.out'
  $(setup apply) >'$t/apply6.out'; echo \$? >'$t/apply6.rc'
  blkid -p -s UUID -o value /dev/md0 >'$t/fsuuid6'; cat /proc/mdstat >'$t/mdstat6'
  $(setup verify) >'$t/verify6.out'; echo \$? >'$t/verify6.rc'")
equals "after the restart the boot drive is nvme0" /dev/nvme0n1 "$(cat "$t/boot6")"
contains "plan: assemble the existing array, not create one" "would: assemble the existing array raid" "$(cat "$t/plan6.out")"
equals "apply: exit 0" 0 "$(cat "$t/apply6.rc")"
case $(cat "$t/apply6.out") in *"create RAID0"*|*"make ext4"*|*wipe*) not_ok "reordered: nothing rebuilt" "$(cat "$t/apply6.out")" ;;
  *) ok "reordered: nothing rebuilt" ;; esac
equals "reordered: the same filesystem" "$(cat "$t/fsuuid5")" "$(cat "$t/fsuuid6")"
# slots 0-3 (serials ...101-...104, roles 0-3) are now nvme2, nvme3, nvme1, nvme4
members=$(grep '^md0 :' "$t/mdstat6" | tr ' ' '\n' | grep '^nvme' | sort | tr '\n' ' ')
equals "reordered: each serial in its role under its new name" "nvme1n1[2] nvme2n1[0] nvme3n1[1] nvme4n1[3] " "$members"
equals "reordered: verify exit 0" 0 "$(cat "$t/verify6.rc")"
