#!/bin/sh
# Man pages for tb, each of its commands (tb-NAME(1), as git names its
# own) and each daemon (DAEMON(8)), made by help2man from the --help of the
# installed programs: every command has a --help that is kept current (the
# house rule), so the pages are made from it rather than written twice.
# The commands run through the installed tb, as a person types them, so the
# pages say "tb diag", not the program's path, and the installed layout is
# exercised on the way.
#
# usage: manpages.sh DESTDIR BINDIR MANDIR VERSION [DAEMON...]
set -eu
[ $# -ge 4 ] || { echo "usage: manpages.sh DESTDIR BINDIR MANDIR VERSION [DAEMON...]" >&2; exit 2; }
destdir=$1 bindir=$2 mandir=$3 version=$4
shift 4
tb=$destdir$bindir/tb
command -v help2man >/dev/null || { echo "manpages.sh: help2man is needed (apt-get install help2man)" >&2; exit 1; }

work=$(mktemp -d /tmp/tb-man.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -d "$destdir$mandir/man1" "$destdir$mandir/man8"

# The commands tb lists, with their one-line summaries.
"$tb" --help | sed -n '/^commands:/,$p' | sed '1d; s/^  *//' >"$work/commands"

summary_of_daemon() {
	case $1 in
	tb-fand) echo "the appliance's acoustic fan controller" ;;
	tb-stored) echo "the storage daemon: loads and verifies model weights from the NVMe RAID0" ;;
	tb-inferd) echo "the OpenAI-compatible inference server" ;;
	*) echo "the $1 daemon" ;;
	esac
}

page() { # NAME SECTION SUMMARY SEE-ALSO PROGRAM
	printf '[SEE ALSO]\n%s\n' "$4" >"$work/$1.h2m"
	help2man --no-info --no-discard-stderr --section="$2" --name="$3" --version-string="$version" \
		--source="tb $version" --manual="tb appliance stack" --include="$work/$1.h2m" \
		--output="$destdir$mandir/man$2/$1.$2" "$5"
}

# help2man reads a synopsis from "Usage:" and "  or:" lines: the commands'
# "usage:" line, their further forms and the lines that continue a form
# are put that way, and tb's list of commands two columns (the text is
# unchanged otherwise).
cat >"$work/synopsis.awk" <<'EOF'
NR == 1 && /^usage: / { sub(/^usage: /, "Usage: "); form = $0; inusage = 1; next }
inusage && /^ +\[/ { sub(/^ +/, " "); form = form $0; next }
inusage && /^ +[a-z]/ { print form; sub(/^ +/, ""); form = "  or:  " $0; next }
inusage { print form; inusage = 0 }
# tb's list of commands: a name and its summary two spaces apart at least
/^commands:/ { incommands = 1; print; next }
incommands && /^  [a-z]/ { name = $1; sub(/^  [^ ]+ +/, ""); printf "  %-9s %s\n", name, $0; next }
{ print }
END { if (inusage) print form }
EOF
wrap() { # NAME COMMAND...: a program NAME in the work directory that runs COMMAND
	wrapper=$1
	shift
	run=$(printf '"%s" ' "$@")
	{
		printf '#!/bin/sh\n'
		printf 'if [ "$1" = --help ]; then %s--help | awk -f "%s"; exit; fi\n' "$run" "$work/synopsis.awk"
		printf 'exec %s"$@"\n' "$run"
	} >"$work/$wrapper"
	chmod 0755 "$work/$wrapper"
}

see_tb='.BR tb (1)'
see_all=
while read -r name summary; do
	see_all="$see_all.BR tb-$name (1)
"
	[ -n "$summary" ] || summary="the tb $name command"
	# a program named as the page, running the command as typed
	wrap "tb-$name" "$tb" "$name"
	page "tb-$name" 1 "$summary" "$see_tb" "$work/tb-$name"
done <"$work/commands"
for d in "$@"; do
	see_all="$see_all.BR $d (8)
"
	wrap "$d" "$destdir$bindir/$d"
	page "$d" 8 "$(summary_of_daemon "$d")" "$see_tb" "$work/$d"
done
wrap tb "$tb"
page tb 1 "the appliance stack's command: GPUs, diagnostics, models, storage and fans" "$see_all" "$work/tb"
