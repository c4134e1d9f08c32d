#!/usr/bin/env bash
# tb setup cut short anywhere resumes to the same end state: one apply runs
# to the end on a fresh root (the reference); on a second root, applies are
# killed (SIGKILL, as a power cut would stop them) right after each new
# ledger record, i.e. at every step boundary and in the middle of every step
# that changes something, then a last apply runs to the end.  Both roots
# must then hold the same files with the same modes, verify, and find
# nothing more to change.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/setup/root.inc.sh"
tb="$TB_BUILD/bin/tb"
t=$(mktemp -d /tmp/tb-test-resume.XXXXXX)
export TB_SIM_STATE="$t/box" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
trap '"$tb" sim stop >/dev/null 2>&1; rm -rf "$t"' EXIT
out=$("$tb" sim start 2>&1) || { not_ok "the box starts" "$out"; exit 1; }
ok "the box starts"

fixture() {
  make_root "$1" &&
  printf '[power]\noutlet_volts = 240\noutlet_amps = 16\n[access]\nssh_keys = %s/none/*\n[final]\nrun_diag = no\n' "$t" \
    >"$1/etc/tb/setup.conf"
}
# the files of a root with their modes, less what differs from run to run
# by design: the log and the ledger (times)
tree() { (cd "$1" && find . -path ./var/log/tb-setup.log -prune -o -path ./var/lib/tb-setup/ledger.json -prune -o \
  -printf '%p %m %y\n' | sort); }

fixture "$t/ref"
out=$("$tb" sim run -- "$tb" setup apply --root "$t/ref" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "the reference apply is done" || not_ok "reference apply" "status $rc: $out"

# apply_killed ROOT N: start an apply, SIGKILL it as soon as the ledger has
# changed N times since it started; "killed", or "finished" if it ended first
apply_killed() {
  python3 - "$tb" "$1" "$2" <<'PY'
import os, signal, subprocess, sys, time
tb, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = os.path.join(root, "var/lib/tb-setup/ledger.json")
def stamp():
    try:
        st = os.stat(ledger)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None
p = subprocess.Popen([tb, "sim", "run", "--", tb, "setup", "apply", "--root", root],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
last, seen, deadline = stamp(), 0, time.time() + 120
while p.poll() is None and time.time() < deadline:
    now = stamp()
    if now != last:
        last, seen = now, seen + 1
        if seen >= n:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            print("killed")
            sys.exit(0)
    time.sleep(0.001)
if p.poll() is None:
    os.killpg(p.pid, signal.SIGKILL)
    print("hung")
else:
    print("finished")
PY
}

fixture "$t/cut"
# the n-th apply is killed at its n-th ledger record: each run goes one
# record further than the one before (every run writes its steps again)
kills=0 result=
for n in $(seq 40); do
  result=$(apply_killed "$t/cut" "$n")
  [ "$result" = killed ] || break
  kills=$((kills + 1))
done
equals "the applies killed after each new ledger record end with one that finishes" finished "$result"
[ $kills -ge 6 ] && ok "it was killed $kills times, each run one ledger record further (boundaries and mid-step)" ||
  not_ok "killed at every step" "only $kills times"
out=$("$tb" sim run -- "$tb" setup apply --root "$t/cut" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "after all of that, another apply finds nothing to change" "apply: 0 changed" "$out" ||
  not_ok "apply after the cuts" "status $rc: $out"
out=$("$tb" sim run -- "$tb" setup verify --root "$t/cut" 2>&1); rc=$?
[ $rc -eq 0 ] && ok "verify passes on the root that was cut short" || not_ok "verify after the cuts" "status $rc: $out"
equals "the same files and modes as the reference" "$(tree "$t/ref")" "$(tree "$t/cut")"
out=$("$tb" sim run -- "$tb" setup apply --root "$t/ref" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "the reference's second apply changes nothing" "apply: 0 changed" "$out" ||
  not_ok "second apply" "status $rc: $out"
# the check above can fail: a changed file is seen
chmod 0700 "$t/cut/etc/tb/power.conf"
[ "$(tree "$t/ref")" != "$(tree "$t/cut")" ] && ok "a mode changed by hand differs from the reference (the comparison can fail)" ||
  not_ok "tree comparison"
out=$("$tb" sim run -- "$tb" setup apply --root "$t/cut" 2>&1); rc=$?
[ $rc -eq 0 ] && contains "and an apply puts it back" "apply: 1 changed" "$out" || not_ok "repair" "status $rc: $out"
equals "the same files and modes again" "$(tree "$t/ref")" "$(tree "$t/cut")"
