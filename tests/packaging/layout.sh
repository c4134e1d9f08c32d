#!/usr/bin/env bash
# make install's layout (packaging/install.sh into a DESTDIR, PREFIX
# /usr/local): tb runs its commands from PREFIX/libexec/tb and tb diag
# finds its GPU kernels in PREFIX/share/tb, on a simulated box (and says
# which file is missing when one is); the units name PREFIX/bin; the bash
# completion of tb completes commands, subcommands, each one's options and
# files.
. "$TB_SRC/tests/tap.sh"
. "$TB_SRC/tests/sim/box.inc.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/tb-layout.XXXXXX")
trap '"$tb" sim stop >/dev/null 2>&1; detach_drives; rm -rf "$box_state" "$w"' EXIT
dest=$w/dest
prefix=/usr/local

if out=$(sh "$TB_SRC/packaging/install.sh" --build "$TB_BUILD" --destdir "$dest" --prefix $prefix 2>&1); then
  ok "install.sh installs the tree into DESTDIR with PREFIX $prefix"
else
  not_ok "install.sh" "$out"
  exit 0
fi
itb=$dest$prefix/bin/tb

# ---- the commands and their kernels, from the installed tb --------------------------
listed=$("$itb" --help | sed -n '/^commands:/,$p' | sed 1d | awk '{ print $1 }' | xargs)
installed=$(cd "$dest$prefix/libexec/tb" && ls | sed 's/^tb-//' | xargs)
equals "the installed tb lists the commands in PREFIX/libexec/tb" "$installed" "$listed"
case " $listed " in
  *" sim "* | *" emu "* | *" fanbench "*) not_ok "the simulated box's commands are not installed" "$listed" ;;
  *) ok "the simulated box's commands are not installed" ;;
esac
out=$("$itb" info --help 2>&1)
contains "tb info runs PREFIX/libexec/tb/tb-info" "usage: tb info" "$out"

start_box
ok "the box starts"
out=$("$tb" sim run -- "$itb" diag -g 0 -t gemm --seed 1 --state "$w/diag" 2>&1)
rc=$?
[ $rc -eq 0 ] && contains "the installed tb diag runs gemm on the box with PREFIX/share/tb/diag.co" "PASS" "$out" ||
  not_ok "the installed tb diag on the box" "status $rc: $(tail -5 <<<"$out")"
mv "$dest$prefix/share/tb/diag.co" "$w/diag.co"
out=$("$tb" sim run -- "$itb" diag -g 0 -t gemm --seed 1 --state "$w/diag" 2>&1)
rc=$?
[ $rc -ne 0 ] && contains "without PREFIX/share/tb/diag.co tb diag fails and names it (the check can fail)" \
  "$prefix/libexec/tb/../../share/tb/diag.co: No such file" "$out" || not_ok "tb diag without its kernels" "status $rc: $(tail -5 <<<"$out")"
mv "$w/diag.co" "$dest$prefix/share/tb/diag.co"

# ---- units --------------------------------------------------------------------------
unit=$dest/$prefix/lib/systemd/system/tb-fand.service
contains "tb-fand.service runs PREFIX/bin/tb-fand" "ExecStart=$prefix/bin/tb-fand --config" "$(cat "$unit")"
[ -x "$dest$prefix/bin/tb-fand" ] && ok "PREFIX/bin/tb-fand is installed" || not_ok "PREFIX/bin/tb-fand is installed"
out=$(sh "$TB_SRC/packaging/install.sh" --build "$TB_BUILD" --destdir "$w/usr" --prefix /usr 2>&1)
equals "with PREFIX /usr no unit names /usr/local" "" "$(grep -rl /usr/local "$w/usr/lib" "$w/usr/usr/lib" 2>/dev/null)"

# ---- bash completion ----------------------------------------------------------------
# complete LINE: what tb's completion offers for LINE (the word at its end)
complete_line() {
  (cd "$w/files" && bash -c '. /usr/share/bash-completion/bash_completion; . "$1"
    read -ra COMP_WORDS <<<"$2"; [[ $2 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=$2; COMP_POINT=${#2}
    _tb; printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' _ "$dest$prefix/share/bash-completion/completions/tb" "$1")
}
mkdir -p "$w/files" && touch "$w/files/report.json" "$w/files/model.gguf"
if [ -r /usr/share/bash-completion/bash_completion ]; then
  equals "tb di -> diag" "diag" "$(complete_line 'tb di')"
  equals "tb help ge -> generate" "generate" "$(complete_line 'tb help ge')"
  equals "tb diag -> its subcommands" "history list monitor report" "$(complete_line 'tb diag ')"
  equals "tb diag --le -> --level (from its option lines)" "--level" "$(complete_line 'tb diag --le')"
  equals "tb fan calibrate --c -> --config" "--config" "$(complete_line 'tb fan calibrate --c')"
  equals "tb fan status --c -> nothing: --config is calibrate's" "" "$(complete_line 'tb fan status --c')"
  equals "tb diag --json -> a file" "model.gguf report.json" "$(complete_line 'tb diag --json ')"
  equals "tb generate -> a model file" "model.gguf report.json" "$(complete_line 'tb generate ')"
  equals "tb si -> nothing: the simulated box is not installed" "" "$(complete_line 'tb si')"
  equals "tb setup -> plan apply verify status config" "apply config plan status verify" "$(complete_line 'tb setup ')"
  equals "tb setup plan --r -> --root" "--root" "$(complete_line 'tb setup plan --r')"
else
  ok "bash completion # SKIP bash-completion is not installed (make deps installs it)"
fi
