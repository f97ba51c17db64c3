#!/usr/bin/env bats
# t01 — every program's usage: --help prints it on stdout and exits 0, and it
# names the same options as the SYNOPSIS of its man page.

load common

: "${OBS_ROOT:=$BATS_TEST_DIRNAME/../..}"

# the options a usage text or a SYNOPSIS names, one a line, sorted:
# "-jh" is -j and -h, "--status" stays whole
options() {
	grep -oE '(^|[[ |])--?[A-Za-z][-A-Za-z]*' | tr -d '[ |' |
		awk '/^--/ { print; next }
		     { for (i = 2; i <= length($0); i++) print "-" substr($0, i, 1) }' |
		sort -u
}

synopsis() {
	mandoc -Tascii "$OBS_ROOT/man/$1" | sed "s/.\x08//g" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d'
}

check_tool() {
	local tool=$1 page=$2
	run "$tool" --help
	assert_success
	assert_line --index 0 --regexp "^usage: $tool "
	local got want
	got=$(printf '%s\n' "$output" | options)
	want=$(synopsis "$page" | options)
	[ -n "$want" ]
	if [ "$got" != "$want" ]; then
		echo "usage:    $(echo $got)"
		echo "SYNOPSIS: $(echo $want)"
		return 1
	fi
}

@test "obs-agg --help matches obs-agg(1)" { check_tool obs-agg obs-agg.1; }
@test "obs-alert --help matches obs-alert(1)" { check_tool obs-alert obs-alert.1; }
@test "obs-grep --help matches obs-grep(1)" { check_tool obs-grep obs-grep.1; }
@test "obs-query --help matches obs-query(1)" { check_tool obs-query obs-query.1; }
@test "obs-rate --help matches obs-rate(1)" { check_tool obs-rate obs-rate.1; }
@test "obs-ship --help matches obs-ship(1)" { check_tool obs-ship obs-ship.1; }
@test "obs-spark --help matches obs-spark(1)" { check_tool obs-spark obs-spark.1; }
@test "obs-trace --help matches obs-trace(1)" { check_tool obs-trace obs-trace.1; }

@test "obs-trace find --help prints the usage and exits 0" {
	run obs-trace find --help
	assert_success
	assert_line --index 0 --regexp '^usage: obs-trace '
}

@test "obsfsd's usage names the options of obsfsd(8)'s SYNOPSIS" {
	# obsfsd prints its usage on stderr; -h exits 0
	run obsfsd -h
	assert_success
	local got want
	got=$(printf '%s\n' "$output" | grep -A1 '^usage: obsfsd ' | options)
	want=$(synopsis obsfsd.8 | options)
	[ -n "$want" ]
	if [ "$got" != "$want" ]; then
		echo "usage:    $(echo $got)"
		echo "SYNOPSIS: $(echo $want)"
		return 1
	fi
}

@test "obs-trace takes --json and --width as -j and -w" {
	cat > spans.json <<-'JSON'
	{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","service":"checkout","operation":"pay","start_time":1700000000000,"duration_ms":600,"status":"error"}
	JSON
	run obs-trace --json 4bf92f3577b34da6a3ce929d0e0e4736 spans.json
	assert_success
	assert_output --partial '"span_id":"00f067aa0ba902b7"'
	run obs-trace --width 10 4bf92f3577b34da6a3ce929d0e0e4736 spans.json
	assert_success
	assert_line --index 1 --partial '|!!!!!!!!!!|'
}
