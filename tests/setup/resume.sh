#!/usr/bin/env bash
# tb setup cut short anywhere resumes to the same end state.  On a fresh
# root, applies are killed (SIGKILL, as a power cut stops them) at each new
# ledger record or up to 0.3 s after it, each run one record further:
# at every step boundary and in the middle of the steps that change things,
# the RAID0 build and its filesystem among them.  A last apply runs to the
# end; then it must find nothing more to change and verify.  The drives are
# then wiped and a second root is set up in one uninterrupted apply (the
# reference): both roots must hold the same files with the same modes.
# Everything runs in one `tb sim run`, so that the array's mount stays.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/setup/root.inc.sh"
tb="$TB_BUILD/bin/tb"
t=$(mktemp -d /tmp/tb-test-resume.XXXXXX)
export TB_SIM_STATE="$t/box" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$t"' EXIT
out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ok "the box starts"

for r in cut ref; do
  make_root "$t/$r" &&
  printf '[storage]\ndrives = S6B0NL0T000101, S6B0NL0T000102, S6B0NL0T000103, S6B0NL0T000104\nprobe_floor_mbps = 1\n[power]\noutlet_volts = 240\noutlet_amps = 16\n[access]\nssh_keys = %s/none/*\n[final]\nrun_diag = no\n' "$t" \
    >"$t/$r/etc/tb/setup.conf" || not_ok "the fixture root $r"
done

cat >"$t/resume.py" <<'PY'
import glob, os, signal, subprocess, sys, time
tb, t = sys.argv[1], sys.argv[2]
n_check = 0
def check(ok, name, why=""):
    global n_check
    n_check += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n_check, name))
    if not ok and why:
        print("# " + why.replace("\n", "\n# ")[-2000:])
def setup(cmd, root):
    p = subprocess.run([tb, "setup", cmd, "--root", root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr
def stamp(ledger):
    try:
        st = os.stat(ledger)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None
def apply_killed(root, n, delay):
    """an apply SIGKILLed delay s after its n-th ledger record: killed,
    finished or hung"""
    ledger = os.path.join(root, "var/lib/tb-setup/ledger.json")
    p = subprocess.Popen([tb, "setup", "apply", "--root", root], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    last, seen, deadline = stamp(ledger), 0, time.time() + 120
    while p.poll() is None and time.time() < deadline:
        now = stamp(ledger)
        if now != last:
            last, seen = now, seen + 1
            if seen >= n:
                time.sleep(delay)
                if p.poll() is not None:
                    return "finished"
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return "killed"
        time.sleep(0.001)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        return "hung"
    return "finished"
def tree(root):
    # the files and their modes, less the log and the ledger (times) and
    # what is inside the array's filesystem
    out = subprocess.run(["find", root, "-xdev", "(", "-path", root + "/var/log/tb-setup.log", "-o", "-path",
                          root + "/var/lib/tb-setup/ledger.json", ")", "-prune", "-o", "-printf", "%P %m %y\n"],
                         capture_output=True, text=True).stdout
    return sorted(out.splitlines())

cut, ref = t + "/cut", t + "/ref"
kills, result = 0, None
for n in range(1, 41):
    # at the record itself, or a little later: inside mdadm, mkfs.ext4,
    # systemctl, ssh-keygen...
    result = apply_killed(cut, n, (n % 3) * 0.15)
    if result != "killed":
        break
    kills += 1
check(result == "finished", "applies killed one ledger record further each time end with one that finishes", result)
check(kills >= 6, "killed %d times, each run one ledger record further (boundaries and mid-step)" % kills)
rc, out = setup("apply", cut)
check(rc == 0 and "apply: 0 changed" in out, "after all of that, another apply finds nothing to change", out)
rc, out = setup("verify", cut)
check(rc == 0, "verify passes on the root that was cut short", out)

# the reference: the same drives, wiped, set up in one go
subprocess.run(["umount", cut + "/raid"], capture_output=True)
for md in glob.glob("/dev/md[0-9]*"):
    subprocess.run(["mdadm", "--stop", md], capture_output=True)
members = ["/dev/disk/by-id/nvme-Samsung_SSD_990_PRO_2TB_S6B0NL0T00010%d" % i for i in range(1, 5)]
subprocess.run(["mdadm", "--zero-superblock"] + members, capture_output=True)
subprocess.run(["wipefs", "-a", "-q"] + members, capture_output=True)
rc, out = setup("apply", ref)
check(rc == 0 and "0 failed: done" in out and "storage   changed" in out,
      "the reference apply builds the array anew and is done", out)
rc, out = setup("apply", ref)
check(rc == 0 and "apply: 0 changed" in out, "the reference's second apply changes nothing", out)
a, b = tree(ref), tree(cut)
check(a == b, "the same files and modes as the reference",
      "\n".join(["only in ref: " + x for x in sorted(set(a) - set(b))] + ["only in cut: " + x for x in sorted(set(b) - set(a))]))
# the comparison can fail: a mode changed by hand is seen, and put back
os.chmod(cut + "/etc/tb/power.conf", 0o700)
check(tree(cut) != a, "a mode changed by hand differs from the reference (the comparison can fail)")
rc, out = setup("apply", cut)
check(rc == 0 and "power     changed" in out, "an apply puts it back (and adopts the array the reference built)", out)
print("1..%d" % n_check)
PY
tap_run "" "$tb" sim run -- python3 "$t/resume.py" "$tb" "$t"
