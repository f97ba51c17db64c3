#!/usr/bin/env bats
# t45-tree — the tree as a table (fs/tree.h): the root listing and the
# README come from the subtree table; aliases of series names longer than
# NAME_MAX resolve through an index, not a scan of every series.

load helper

setup() { obs_setup; }
teardown() { obs_teardown; }

# status_field NAME: the value of a status line "NAME   VALUE"
status_field() {
	local s
	s=$(slurp "$MNT/status") || return 1
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }' <<<"$s" ||
		{ echo "no '$1' in status" >&2; return 1; }
}

@test "the root lists every subtree of the table, and the README describes each one" {
	got=$(ls "$MNT")
	expect_eq "$got" "$(printf '%s\n' README alerts ctl errors export export.jsonl ingest labels logs metrics queries query select status traces | sort)"
	readme=$(slurp "$MNT/README")
	for e in $got; do
		[ "$e" = README ] && continue
		# each row's README lines start with its name (dirs as NAME/...)
		grep -qE "^  $(sed 's/\./\\./g' <<<"$e")([/[ ]|$)" <<<"$readme" ||
			{ echo "README has no line for '$e'" >&2; false; }
	done
	# the README is the same text whatever the read size (rendered once per open)
	expect_eq "$(dd if="$MNT/README" bs=7 status=none)" "$readme"
}

@test "ls -l over 2000 aliased series completes, and a stat of an alias does not scan the series" {
	pad=$(printf 'v%.0s' $(seq 260))
	for i in $(seq 2000); do echo "alias_m{a=\"$pad$i\"} $i"; done >"$T/in.prom"
	cp "$T/in.prom" "$MNT/ingest"
	expect_eq "$(status_field series)" 2000
	start=$(date +%s%N)
	run ls -l "$MNT/metrics"
	[ "$status" -eq 0 ]
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	echo "ls -l of 2000 aliased series: $elapsed_ms ms" >&3
	# "total N" and one line per series, every one with its size (stat worked)
	expect_eq "$(grep -c '~[0-9a-f]\{16\}$' <<<"$output")" 2000
	[ "$elapsed_ms" -lt 60000 ] || { echo "ls -l took $elapsed_ms ms" >&2; false; }
	# the index was built once: each series name looked at once
	indexed=$(status_field alias_names_indexed)
	expect_eq "$indexed" 2000
	# stats and reads of aliases look at no series name again
	aliases=$(ls "$MNT/metrics" | sed -n '1p;500p;1000p;1999p;2000p')
	for a in $aliases; do
		stat -c %s "$MNT/metrics/$a" >/dev/null
		expect_eq "$(cut -d' ' -f2 "$MNT/metrics/$a" | wc -l)" 1
	done
	expect_eq "$(status_field alias_names_indexed)" "$indexed"
	# a series created later: the index grows by it alone
	echo "alias_m{a=\"new$pad\"} 7" >"$MNT/ingest"
	new=$(ls "$MNT/metrics" | grep '^alias_m{a="new')
	expect_eq "$(wc -l <<<"$new")" 1
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/$new")" 7
	expect_eq "$(status_field alias_names_indexed)" $((indexed + 1))
	# an alias of no series is ENOENT
	run stat "$MNT/metrics/alias_m{a=\"vvv~0123456789abcdef"
	expect_fail "No such file or directory"
}
