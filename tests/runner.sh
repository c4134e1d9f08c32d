#!/bin/sh
# The test runner itself (tests/run), on fake tests: each way a test can go
# wrong is counted as a failure, tests are told apart by path, and results
# appear as tests end.
. "$TB_SRC/tests/tap.sh"
run="$TB_SRC/tests/run"
tmp=$(mktemp -d /tmp/tb-runner.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# fake NAME BODY: an executable shell test in the fake source tree
fake() {
  mkdir -p "$(dirname "$tmp/src/$1")"
  printf '#!/bin/sh\n%s\n' "$2" >"$tmp/src/$1"
  chmod +x "$tmp/src/$1"
}
fake good.sh 'echo "ok 1 - one"; echo "ok 2 - two"'
fake crash.sh 'echo "ok 1 - before the crash"; kill -SEGV $$'
fake plan.sh 'echo "1..3"; echo "ok 1 - one"; echo "ok 2 - two"'
fake empty.sh 'echo "some output, no check"'
fake a/same.sh 'echo "ok 1 - the one in a"'
fake b/same.sh 'echo "not ok 1 - the one in b"; exit 1'
fake skip.sh 'echo "ok 1 - a check # SKIP no GPU here"'
fake status.sh 'echo "ok 1 - fine so far"; exit 3'
fake hang.sh 'echo "ok 1 - started"; exec sleep 60'
# plans as programs print them: at the end (tap.h), then the script's own
# checks; first, once per cmocka group
fake trailing.sh 'echo "ok 1 - one"; echo "ok 2 - two"; echo "1..2"; echo "ok 3 - the script'"'"'s own"'
fake groups.sh 'echo "1..1"; echo "ok 1 - one"; echo "1..2"; echo "ok 1 - one"; echo "ok 2 - two"'
fake truncated.sh 'echo "1..2"; echo "ok 1 - one"; echo "1..3"; echo "ok 1 - one"'

# runner [TESTS...]: the runner on fake tests; its output in $out, status in $rc
runner() {
  out=$(cd "$tmp/src" && TB_BUILD="$tmp/build" TB_SRC="$tmp/src" TB_TEST_JOBS=4 TB_TEST_TIMEOUT=1 \
        "$run" "$@" 2>&1)
  rc=$?
}
# result NAME STATUS OK FAILED: the runner printed this result line for NAME
result() {
  if printf '%s\n' "$out" | awk -v n="$1" -v s="$2" -v o="$3" -v f="$4" \
       '$1 == s && $2 == n && $3 == o && $5 == f { found = 1 } END { exit !found }'; then
    ok "$1: $2 with $3 ok, $4 failed"
  else
    not_ok "$1: $2 with $3 ok, $4 failed" "$(printf '%s\n' "$out" | grep -F " $1 " | head -n 3)"
  fi
}

runner good.sh crash.sh missing.sh plan.sh empty.sh a/same.sh b/same.sh skip.sh status.sh hang.sh \
  trailing.sh groups.sh truncated.sh
result good.sh PASS 2 0
result crash.sh FAIL 1 1
contains "a crash is named" "crash.sh: killed by signal 11" "$out"
result missing.sh FAIL 0 1
contains "a missing test is named" "missing.sh: could not be run" "$out"
result plan.sh FAIL 2 1
contains "a plan mismatch is named" "plan.sh: planned 3 checks, ran 2" "$out"
result empty.sh FAIL 0 1
contains "a test without checks is named" "empty.sh: ran no checks" "$out"
result a/same.sh PASS 1 0
result b/same.sh FAIL 0 1
result skip.sh FAIL 0 1
contains "a skipped check is named" "skip.sh: skipped 1 checks" "$out"
result status.sh FAIL 1 1
contains "a bad exit status is named" "status.sh: exited with status 3" "$out"
result hang.sh FAIL 1 1
contains "a hang is named" "hang.sh: timed out after 1s" "$out"
result trailing.sh PASS 3 0
result groups.sh PASS 3 0
result truncated.sh FAIL 2 1
contains "a truncated group is named" "truncated.sh: planned 2 checks, ran 1" "$out"
last=$(printf '%s\n' "$out" | tail -n 1)
[ "$last" = "16 passed, 9 failed" ] && ok "the last line counts every failure" || not_ok "the last line counts every failure" "$last"
[ "$rc" -ne 0 ] && ok "failures make the runner fail" || not_ok "failures make the runner fail" "status $rc"
grep -q "the one in a" "$tmp/build/test-logs/a/same.sh.log" && grep -q "the one in b" "$tmp/build/test-logs/b/same.sh.log" \
  && ok "tests of the same file name keep logs of their own" || not_ok "tests of the same file name keep logs of their own" \
  "$(ls -R "$tmp/build/test-logs")"

runner good.sh a/same.sh
[ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "3 passed, 0 failed" ] && ok "a clean run passes" \
  || not_ok "a clean run passes" "status $rc: $out"

# A result is printed when its test ends, not when all have: the slow test
# finishes only once the fast one's result line is in the runner's output.
fake fast.sh 'echo "ok 1 - fast"'
fake slow.sh "i=0; while ! grep -q '^PASS fast.sh' '$tmp/out'; do
  i=\$((i + 1)); [ \$i -gt 100 ] && { echo 'not ok 1 - no result line for fast.sh while slow.sh ran'; exit 1; }
  sleep 0.1; done; echo 'ok 1 - the result of fast.sh came first'"
(cd "$tmp/src" && TB_BUILD="$tmp/build" TB_SRC="$tmp/src" TB_TEST_JOBS=2 "$run" slow.sh fast.sh >"$tmp/out" 2>&1)
rc=$?
[ $rc -eq 0 ] && ok "each result is printed as its test ends" || not_ok "each result is printed as its test ends" "$(cat "$tmp/out")"

# tap.sh's helpers, which every shell test uses: tap_run takes a program's
# exit status and plan into account, equals compares exact values
fake prog.sh 'echo "1..3"; echo "ok 1 - one"; echo "not ok 2 - two"; echo "ok 3 - three # SKIP why"'
fake prog-crash.sh 'echo "1..2"; echo "ok 1 - one"; kill -SEGV $$'
fake prog-silent.sh 'echo "no TAP at all"'
out=$(tap_n=0; tap_run "p: " "$tmp/src/prog.sh")
equals "tap_run renumbers and prefixes the results" \
  "ok 1 - p: one|not ok 2 - p: two|ok 3 - p: three # SKIP why" "$(printf '%s\n' "$out" | grep ok | paste -sd'|')"
out=$(tap_n=0; tap_run "p: " "$tmp/src/prog-crash.sh")
contains "tap_run: a program that made fewer checks than planned fails" "not ok 2 - p: planned 2 checks" "$out"
contains "tap_run: a program that crashed fails" "not ok 3 - p: exit status" "$out"
out=$(tap_n=0; tap_run "p: " "$tmp/src/prog-silent.sh")
contains "tap_run: a program that made no check fails" "not ok 1 - p: checks made" "$out"
out=$(tap_n=0; tap_run "p: " "$tmp/src/no-such-program")
contains "tap_run: a missing program fails" "not ok 1 - p: checks made" "$out"
case $(equals "x" "0" "1000") in "not ok"*) ok "equals: 0 is not 1000" ;; *) not_ok "equals: 0 is not 1000" ;; esac
case $(equals "x" "16" "16") in "ok"*) ok "equals: 16 is 16" ;; *) not_ok "equals: 16 is 16" ;; esac
mkdir -p "$tmp/empty-build"
out=$(TB_BUILD="$tmp/empty-build" sh "$TB_SRC/tests/isa/decode.sh" 2>&1)
case $out in *"not ok"*) ok "the decoder test fails without its program and code objects" ;;
  *) not_ok "the decoder test fails without its program and code objects" "$out" ;; esac

# A test killed at its time limit does not leave its simulated box running:
# box.inc.sh's exit trap never runs then, and tb-simd has left the test's
# process group, so the runner stops what carries the test's mark.
fake boxed.sh ". '$TB_SRC/tests/tap.sh'; TB_BUILD='$(realpath "$TB_BUILD")'; . '$TB_SRC/tests/sim/box.inc.sh'
start_box; echo \"\$box_state\" >'$tmp/box-state'; ok 'the box started'; sleep 600"
out=$(cd "$tmp/src" && TB_BUILD="$tmp/build" TB_SRC="$tmp/src" TB_TEST_TIMEOUT=30 "$run" boxed.sh 2>&1)
contains "a test that outlives its time limit is stopped" "boxed.sh: timed out after 30s" "$out"
state=$(cat "$tmp/box-state" 2>/dev/null)
if [ -z "$state" ]; then
  not_ok "the timed-out test's box is stopped" "the box did not start: $out"
else
  # any process whose command line names the state directory (tb-simd's
  # does; read by tr, whose own command line does not)
  left=
  for f in /proc/[0-9]*/cmdline; do
    case $(tr '\0' ' ' <"$f" 2>/dev/null) in *"$state"*) left="$left $f" ;; esac
  done
  [ -z "$left" ] && ok "the timed-out test's box is stopped" \
    || not_ok "the timed-out test's box is stopped" "still running: $left"
  [ ! -e "$state" ] && ok "the timed-out test's temporary directory is removed" \
    || not_ok "the timed-out test's temporary directory is removed" "$(ls -la "$state")"
fi
contains "the runner says what it stopped" "tests/run: stopping pid" "$(cat "$tmp/build/test-logs/boxed.sh.log")"
