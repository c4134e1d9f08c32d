#!/bin/sh
# Run inside a fresh Debian 12 root with the packages installed (by
# packaging/check-install.sh): the installed layout works.  TAP lines; the
# exit status is the number of failures.
fails=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -z "${2-}" ] || echo "$2" | sed 's/^/#   /'; }
check() { # NAME COMMAND...: the command succeeds
	name=$1
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "status $?: $out"; fi
}

out=$(tb --help 2>&1) && commands=$(echo "$out" | sed -n '/^commands:/,$p' | sed '1d' | awk '{ print $1 }')
[ -n "${commands-}" ] && ok "tb --help lists the commands in /usr/libexec/tb: $(echo $commands)" ||
	not_ok "tb --help" "$out"
check "man finds tb(1)" man -w 1 tb
for c in $commands; do
	check "tb $c --help" tb "$c" --help
	check "man finds tb-$c(1)" man -w 1 "tb-$c"
done
for d in tb-fand tb-stored tb-inferd; do
	check "$d --help" "$d" --help
	check "man finds $d(8)" man -w 8 "$d"
done
check "tb-fand --check accepts the shipped /usr/share/tb/tb-fand.conf" tb-fand --check --config /usr/share/tb/tb-fand.conf
out=$(tb-inferd --config /dev/null --check 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 'no model' && ok "tb-inferd --check refuses a config without a model" ||
	not_ok "tb-inferd --check" "$out"
for co in diag infer tbhal_kernels; do
	[ -f "/usr/share/tb/$co.co" ] && ok "/usr/share/tb/$co.co" || not_ok "/usr/share/tb/$co.co"
done
# the units: their programs exist where they name them, systemd accepts them
for u in /lib/systemd/system/tb-*.service; do
	out=$(systemd-analyze verify "$u" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ] && ok "systemd-analyze verify ${u##*/}" || not_ok "systemd-analyze verify ${u##*/}" "$out"
done
# the -dev packages: a program built with pkg-config alone
if out=$(gcc -o /tmp/tb-link /tmp/link.c $(pkg-config --cflags --libs tbinfer) 2>&1) && out=$(/tmp/tb-link 2>&1); then
	ok "a program links against libtbinfer, libtbstore, libtbhal and libtbdrv with pkg-config tbinfer"
else
	not_ok "linking with pkg-config tbinfer" "$out"
fi
# the bash completion: tb di<TAB> is tb diag
out=$(bash -c '. /usr/share/bash-completion/bash_completion; . /usr/share/bash-completion/completions/tb
	COMP_WORDS=(tb di); COMP_CWORD=1; COMP_LINE="tb di"; COMP_POINT=5; _tb; echo "${COMPREPLY[*]}"' 2>&1)
[ "$out" = diag ] && ok "bash completion: tb di -> diag" || not_ok "bash completion: tb di" "$out"
# the packages leave the daemons' units disabled (tb setup enables them)
# and tb-setup.service enabled, for the next boot
for u in tb-fand tb-stored tb-inferd; do
	state=$(systemctl is-enabled $u.service 2>&1)
	[ "$state" = disabled ] && ok "$u.service is installed disabled" || not_ok "$u.service is installed disabled" "$state"
done
if [ -x /usr/libexec/tb/tb-setup ]; then
	state=$(systemctl is-enabled tb-setup.service 2>&1)
	[ "$state" = enabled ] && ok "tb-setup.service is enabled" || not_ok "tb-setup.service is enabled" "$state"
	out=$(tb setup plan --root / 2>&1)
	rc=$?
	case $rc in
	0 | 1 | 2 | 75) ok "tb setup plan --root / ran (status $rc)"; echo "$out" | sed 's/^/# /' ;;
	*) not_ok "tb setup plan --root /" "status $rc: $out" ;;
	esac
else
	echo "# tb setup is not built yet (installer/): tb --help stands in for it"
fi
echo "1..$n"
exit $fails
