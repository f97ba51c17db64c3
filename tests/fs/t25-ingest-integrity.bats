#!/usr/bin/env bats
# t25-ingest-integrity — issue 8 items 6, 8, 14, 15a through the mount:
# untimed samples of interleaved series all kept, distinct and increasing;
# timestamps outside years 0..9999 refused (EINVAL, an errors line) and
# readers of a series always return; OpenMetrics writes in seconds, exemplars
# counted, unknown escapes kept; a series without a metric name.

load helper

setup() {
	obs_setup
	T0=$(aligned_ago 600 60)
}
teardown() { obs_teardown; }

# count_lines FILE: number of lines of FILE (fails when FILE cannot be read)
count_lines() {
	local out
	out=$(cat "$1") || return 1
	printf '%s\n' "$out" | grep -c .
}

# increasing FILE: the times (first field) of a series file strictly increase
increasing() {
	local out
	out=$(cat "$1") || return 1
	printf '%s\n' "$out" | awk 'NR > 1 && $1 <= prev { print "not increasing at line " NR ": " $0; bad = 1 }
		{ prev = $1 } END { exit bad }'
}

@test "untimed lines of interleaved series in one write are all kept (prom, influx, mixed)" {
	# one write(2) each (bash's printf writes line by line)
	expect_eq "$(py_write "$MNT/ingest" "b'ua 1\nub 1\nua 2\nub 2\nua 3\n'")" "ok 25"
	expect_eq "$(py_write "$MNT/ingest" "b'um f=1\num g=2\num f=3\num g=4\n'")" "ok 28"
	expect_eq "$(py_write "$MNT/ingest" "b'ux.y 1\nuz:5|g\nux.y 2\nuz:6|g\n'")" "ok 28"
	expect_eq "$(py_write "$MNT/metrics/ua" "b'4\n5\n6\n'")" "ok 6"
	expect_file_eq "$MNT/errors" ""
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/ua" | tr '\n' ' ')" "1 2 3 4 5 6 "
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/ub" | tr '\n' ' ')" "1 2 "
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/um_f" | tr '\n' ' ')" "1 3 "
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/um_g" | tr '\n' ' ')" "2 4 "
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/ux_y" | tr '\n' ' ')" "1 2 "
	expect_eq "$(cut -d' ' -f2 <"$MNT/metrics/uz" | tr '\n' ' ')" "5 6 "
	increasing "$MNT/metrics/ua"
	increasing "$MNT/metrics/um_f"
}

@test "a quick loop of untimed writes gives distinct samples, also from two writers at once" {
	for i in $(seq 1 30); do echo "loop_m $i" >"$MNT/ingest"; done
	echo 0 >"$MNT/metrics/loop_f"
	for i in $(seq 1 30); do echo "$i" >>"$MNT/metrics/loop_f"; done
	expect_file_eq "$MNT/errors" ""
	expect_eq "$(count_lines "$MNT/metrics/loop_m")" 30
	expect_eq "$(count_lines "$MNT/metrics/loop_f")" 31
	increasing "$MNT/metrics/loop_m"
	increasing "$MNT/metrics/loop_f"
	# two writers of one series at once, through ingest and the series file
	( for i in $(seq 1 200); do echo "race_m $i"; done >"$MNT/ingest" ) &
	p1=$!
	( for i in $(seq 1 200); do echo "race_m $i" >"$MNT/ingest"; done ) &
	p2=$!
	( for i in $(seq 1 200); do echo "$i" >>"$MNT/metrics/race_m" 2>/dev/null || true; done ) &
	p3=$!
	wait $p1
	wait $p2
	wait $p3
	expect_file_eq "$MNT/errors" ""
	expect_eq "$(count_lines "$MNT/metrics/race_m")" 600
	increasing "$MNT/metrics/race_m"
}

@test "timestamps INT64_MAX and INT64_MIN are refused in every format; readers return" {
	echo "x 1 ${T0}000" >"$MNT/ingest"
	for line in 'x 1 9223372036854775807' 'x 1 -9223372036854775808' \
		'x.y 1 9223372036854775807' 'x.y 1 -9223372036854775808' \
		'x:1|g|T9223372036854775807' 'x:1|g|T-9223372036854775808' \
		'x 1 253402300800000' 'x f=1 253402300800000000000' \
		"$(printf 'x 1 9223372036854775807\n# EOF')"; do
		expect_eq "$(py_write "$MNT/ingest" "b'''$line\n'''")" "EINVAL"
	done
	for line in '9223372036854775807 1' '-9223372036854775808 1' '10000-01-01T00:00:00Z 1'; do
		expect_eq "$(py_write "$MNT/metrics/x" "b'$line\n'")" "EINVAL"
	done
	expect_eq "$(grep -c 'timestamp out of range' "$MNT/errors")" 9
	expect_eq "$(grep -c 'time out of range' "$MNT/errors")" 2
	run timeout 10 cat "$MNT/metrics/x"
	[ "$status" -eq 0 ]
	expect_eq "$output" "$(rfc3339 "$T0") 1"
	# nothing beyond the valid range reached any series
	expect_eq "$(ls "$MNT/metrics" | tr '\n' ' ')" "x "
	# the ends of the range are accepted and print
	echo '9999-12-31T23:59:59.999Z 5' >>"$MNT/metrics/x"
	run timeout 10 cat "$MNT/metrics/x"
	[ "$status" -eq 0 ]
	expect_eq "$output" "$(rfc3339 "$T0") 1
9999-12-31T23:59:59.999Z 5"
}

@test "openmetrics write: integer timestamps are seconds, exemplars kept, unknown escapes kept" {
	# OpenMetrics is decided per write(2): send each exposition in one write
	expect_eq "$(py_write "$MNT/ingest" "b'om_a_total 0 $T0\n# EOF\n'")" "ok $((${#T0} + 20))"
	expect_file_eq "$MNT/metrics/om_a_total" "$(rfc3339 "$T0") 0"
	# the same line in a plain Prometheus write is milliseconds
	printf 'pm_a_total 0 %s000\n' "$T0" >"$MNT/ingest"
	expect_file_eq "$MNT/metrics/pm_a_total" "$(rfc3339 "$T0") 0"
	local w="# TYPE om_b counter\nom_b_total 1 $T0 # {trace_id=\"abc\"} 0.5 $T0\nom_b_total 2 $((T0 + 1)).5e0 # {} 1\n# EOF\n"
	expect_eq "$(py_write "$MNT/ingest" "b'$w'" | cut -d' ' -f1)" "ok"
	expect_file_eq "$MNT/metrics/om_b_total" "$(rfc3339 "$T0") 1
$(rfc3339 "$((T0 + 1))" | sed 's/\.000Z/.500Z/') 2"
	expect_grep '^exemplars +2 in 1 series$' "$MNT/status"
	printf 'om_e{a="x\\zy",b="\\f"} 1 %s000\n' "$T0" >"$MNT/ingest"
	expect_file_eq "$MNT/errors" ""
	expect_file_eq "$MNT/metrics/om_e{a=\"x\\\\zy\",b=\"\\\\f\"}" "$(rfc3339 "$T0") 1"
}

@test "a series without a metric name: ingested, readable, selectable, round-trips through export" {
	printf '{a="1"} 2 %s000\n{a="1",b="x"} 3 %s000\n' "$T0" "$T0" >"$MNT/ingest"
	expect_file_eq "$MNT/errors" ""
	expect_eq "$(ls "$MNT/metrics" | tr '\n' ' ')" '{a="1",b="x"} {a="1"} '
	expect_file_eq "$MNT/metrics/{a=\"1\"}" "$(rfc3339 "$T0") 2"
	expect_eq "$(ls "$MNT/select/a=1" | tr '\n' ' ')" '{a="1",b="x"} {a="1"} '
	expect_eq "$(ls "$MNT/select/b=x" | tr '\n' ' ')" '{a="1",b="x"} '
	local exp
	exp=$(cat "$MNT/export")
	expect_eq "$exp" "{a=\"1\"} 2 ${T0}000
{a=\"1\",b=\"x\"} 3 ${T0}000"
	# re-ingesting the export is an identical re-send: accepted, nothing changes
	printf '%s\n' "$exp" >"$MNT/ingest"
	expect_file_eq "$MNT/errors" ""
	expect_file_eq "$MNT/metrics/{a=\"1\"}" "$(rfc3339 "$T0") 2"
	# and it survives a restart (WAL replay of a nameless series)
	obs_remount
	expect_file_eq "$MNT/metrics/{a=\"1\"}" "$(rfc3339 "$T0") 2"
}
