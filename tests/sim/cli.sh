#!/bin/sh
# tb sim's command line as a newcomer meets it: bad numbers and extra
# arguments are errors that name the option; the box's programs find tb on
# PATH; one daemon per state directory; a dead daemon's box stops cleanly
# and starts again.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"

# usage_error "name" "needle" CMD...: exit status 2 and the message on stderr
usage_error() {
  name=$1 needle=$2; shift 2
  out=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne 2 ]; then not_ok "$name" "exit status $rc, want 2: $out"; return; fi
  contains "$name" "$needle" "$out"
}
for v in x 1e99 3abc 0 9 " 3" "" 99999999999999999999; do
  usage_error "tb sim start --gpus '$v' is refused" "--gpus '$v': expected a whole number from 1 to 8" \
    "$tb" sim start --gpus "$v"
done
usage_error "tb sim start --speed 2x is refused" "--speed '2x': expected a whole number from 1 to 100" \
  "$tb" sim start --speed 2x
usage_error "an option without its value" "tb sim start: --gpus needs a value" "$tb" sim start --gpus
usage_error "--state without its value" "tb sim stop: --state needs a value" "$tb" sim stop --state
usage_error "an extra argument to start" "tb sim start: unexpected argument 'now'" "$tb" sim start now
usage_error "an extra argument to stop" "tb sim stop: unexpected argument 'all'" "$tb" sim stop all
usage_error "an option of another subcommand" "tb sim stop: unknown option '--gpus'" "$tb" sim stop --gpus 2
usage_error "an unknown subcommand" "tb sim: unknown subcommand 'restart'" "$tb" sim restart
usage_error "tb-simd --gpus 3abc is refused" "tb-simd: --gpus '3abc'" "$TB_BUILD/bin/tb-simd" --state "$box_state" --gpus 3abc
usage_error "tb-simd --speed x is refused" "tb-simd: --speed 'x'" "$TB_BUILD/bin/tb-simd" --state "$box_state" --speed x

start_box
# extra words after a fault are refused, not ignored
for f in "0 link 8 8 8" "0 hang now" "0 ras-ce 2 3" "clear 0 1" "chassis1 fan-stall 2"; do
  # shellcheck disable=SC2086
  usage_error "tb sim fault $f is refused" "unexpected argument" "$tb" sim fault $f
done
check "tb sim fault 0 link 8 8 still works" "$tb" sim fault 0 link 8 8
check "and clears" "$tb" sim fault clear

out=$("$tb" sim run -- tb --version 2>&1); rc=$?
equals "tb is on the box's PATH: the same tb" "$("$tb" --version)" "$out"

# a second daemon on the same state directory refuses to start, and the first keeps its box
out=$(timeout 30 "$TB_BUILD/bin/tb-simd" --state "$box_state" 2>&1); rc=$?
pid=$(cat "$box_state/simd.pid")
[ $rc -eq 1 ] && ok "a second tb-simd on the same state exits 1" || not_ok "a second tb-simd on the same state exits 1" "status $rc: $out"
contains "naming the running one" "another tb-simd (pid $pid) is running on $box_state" "$out"
check "the first box still answers" "$tb" sim status
n=$("$tb" sim run -- lspci -n -d 1002:744c 2>&1 | grep -c "0300: 1002:744c")
equals "and its GPUs are still there" 6 "$n"
out=$("$tb" sim start 2>&1); rc=$?
[ $rc -eq 1 ] && ok "tb sim start refuses too" || not_ok "tb sim start refuses too" "status $rc: $out"

# kill_daemon: SIGKILL the box's daemon and wait until it is gone
kill_daemon() {
  pid=$(cat "$box_state/simd.pid")
  kill -KILL "$pid"
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
# the daemon dies: status says so, start replaces its leftovers (socket, lock, pid file)
kill_daemon
out=$("$tb" sim status 2>&1); rc=$?
[ $rc -ne 0 ] && ok "status tells of the dead daemon" || not_ok "status tells of the dead daemon" "$out"
contains "as dead, not as never started" "has died" "$out"
check "a new box starts in the dead one's place" "$tb" sim start
check "and answers" "$tb" sim status
# it dies again: stop cleans up and succeeds
kill_daemon
out=$("$tb" sim stop 2>&1); rc=$?
[ $rc -eq 0 ] && ok "tb sim stop after the daemon died exits 0" || not_ok "tb sim stop after the daemon died exits 0" "status $rc: $out"
[ ! -e "$box_state/simd.pid" ] && [ ! -e "$box_state/simd.sock" ] && ok "and removes its socket and pid file" \
  || not_ok "and removes its socket and pid file" "$(ls "$box_state")"
out=$("$tb" sim stop 2>&1); rc=$?
[ $rc -ne 0 ] && ok "a second stop says there is no box" || not_ok "a second stop says there is no box" "$out"
