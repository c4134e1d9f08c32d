#!/bin/sh
# Write the bash completion of tb to standard output, made from the --help
# of the installed tb and of each of its commands: the commands tb lists;
# each command's subcommands (the plain words after "tb NAME" in its usage
# lines); the options of its usage lines and of its option lines (lines that
# begin with an option), per subcommand; and which options take a file or a
# directory (their value is written FILE, DIR or PATH).
#
# usage: completion.sh TB
set -eu
[ $# -eq 1 ] || { echo "usage: completion.sh TB" >&2; exit 2; }
tb=$1

commands=$("$tb" --help | sed -n '/^commands:/,$p' | sed '1d' | awk '{ print $1 }')
[ -n "$commands" ] || { echo "completion.sh: $tb --help lists no commands" >&2; exit 1; }

# One command's help -> lines "words KEY<TAB>WORD..." and "file KEY OPTION".
parse() { # NAME
	"$tb" "$1" --help 2>&1 | awk -v cmd="$1" '
	function add(key, w) { if (!((key, w) in seen)) { seen[key, w] = 1; words[key] = words[key] " " w } }
	# the options in text s, for key; an option followed by FILE, DIR or PATH takes a file
	function options(key, s,   n, t, i, o) {
		n = split(s, t, /[][ |,=]+/)
		for (i = 1; i <= n; i++) {
			if (t[i] !~ /^--?[a-z][a-z0-9_-]*$/) continue
			o = t[i]; add(key, o)
			if (t[i + 1] ~ /^(FILE|DIR|PATH)$/) files[key, o] = 1
		}
	}
	BEGIN { keys[cmd] = 1; nkeys = 1; add(cmd, "--help"); inusage = 0; main = 0 }
	{
		line = $0; sub(/^usage:/, "", line)
		if (line ~ "^ *tb " cmd "( |$)") {		# a usage entry
			inusage = 1
			rest = line; sub("^ *tb " cmd " *", "", rest)
			split(rest, f, " ")
			if (f[1] ~ /^[a-z][a-z0-9-]*$/) {
				key = cmd " " f[1]; add(key, "--help")
				if (!(key in keys)) { keys[key] = 1; nkeys++; subs = subs " " f[1] }
				sub(/^[^ ]+/, "", rest)
			} else { key = cmd; main = 1 }
			options(key, rest); next
		}
		if (inusage && line ~ /^ +[[-]/) { options(key, line); next }	# its continuation
		inusage = 0
		if (line ~ /^ +-/) {					# an option line
			head = line; sub(/^ +/, "", head); sub(/  .*/, "", head)
			desc[++ndesc] = head
		}
	}
	END {
		# option lines describe the command run without a subcommand,
		# when it has such a form
		for (i = 1; i <= ndesc; i++) if (main || nkeys == 1) options(cmd, desc[i])
		for (k in keys) print "words\t" k "\t" substr(words[k], 2)
		if (subs != "") print "subs\t" cmd "\t" substr(subs, 2)
		for (kf in files) { split(kf, p, SUBSEP); print "file\t" p[1] "\t" p[2] }
	}'
}

table=$(for c in $commands; do parse "$c"; done | LC_ALL=C sort)

cat <<'EOF'
# bash completion for tb (made from the --help of tb and its commands by
# packaging/completion.sh)

# The options of KEY: NAME (tb NAME) or "NAME SUB" (tb NAME SUB).
_tb_options()
{
    case $1 in
EOF
printf '%s\n' "$table" | awk -F '\t' '$1 == "words" { printf "    '\''%s'\'') echo '\''%s'\'' ;;\n", $2, $3 }'
cat <<'EOF'
    *) return 1 ;;
    esac
}

# The subcommands of command $1 (none: it takes none).
_tb_subcommands()
{
    case $1 in
EOF
printf '%s\n' "$table" | awk -F '\t' '$1 == "subs" { printf "    '\''%s'\'') echo '\''%s'\'' ;;\n", $2, $3 }'
cat <<'EOF'
    esac
}

# Whether option $2 of KEY $1 takes a file or a directory.
_tb_file_option()
{
    case "$1 $2" in
EOF
files=$(printf '%s\n' "$table" | awk -F '\t' '$1 == "file" { printf "%s'\''%s %s'\''", sep, $2, $3; sep = "|" }')
[ -z "$files" ] || printf '    %s) return 0 ;;\n' "$files"
cat <<EOF
    esac
    return 1
}

_tb()
{
    local cur prev words cword
    _init_completion || return

    local commands='$(echo $commands)'
EOF
cat <<'EOF'
    if ((cword == 1)); then
        COMPREPLY=($(compgen -W "$commands help --help --version" -- "$cur"))
        return
    fi
    local key=${words[1]}
    if [[ $key == help ]]; then
        ((cword == 2)) && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
    fi
    _tb_options "$key" >/dev/null || return
    local subs
    subs=$(_tb_subcommands "$key")
    # once typed, a subcommand has options of its own
    if ((cword > 2)) && [[ " $subs " == *" ${words[2]} "* ]]; then
        key="$key ${words[2]}"
        subs=
    fi
    if _tb_file_option "$key" "$prev"; then
        _filedir
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_tb_options "$key")" -- "$cur"))
    elif ((cword == 2)) && [[ -n $subs ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
        # a model or a file named without an option
        _filedir
    fi
}
complete -F _tb tb
EOF
