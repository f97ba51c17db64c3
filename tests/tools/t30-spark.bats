#!/usr/bin/env bats
# t30 — obs-spark: sparklines, charts, widths, SVG.

load common

@test "a sparkline spans the eight levels between min and max" {
	run obs-spark < <(seq 1 8)
	assert_success
	assert_output '▁▂▃▄▅▆▇█  min=1 max=8 last=8'
}

@test "--bare and --ascii" {
	run obs-spark -n -a < <(seq 1 8)
	assert_output '_.-:=+*#'
	run obs-spark --bare < <(seq 8 -1 1)
	assert_output '█▇▆▅▄▃▂▁'
}

@test "NaN is a blank, a constant series sits in the middle" {
	run obs-spark <<<$'0 1\n1 NaN\n2 3'
	assert_output '▁ █  min=1 max=3 last=3'
	run obs-spark -n <<<$'0 5\n1 5\n2 5'
	assert_output '▅▅▅'
}

@test "infinities sit at the edges without stretching the scale" {
	run obs-spark <<<$'0 1\n1 +Inf\n2 2\n3 -Inf\n4 3'
	assert_success
	assert_output '▁█▅▁█  min=1 max=3 last=3'
}

@test "one line per series, labelled with its key" {
	printf '0 1\n10 2\n' >up
	printf '0 2\n10 1\n' >down
	run bash -c 'grep . up down | obs-spark -a'
	assert_output $'up _#  min=1 max=2 last=2\ndown #_  min=1 max=2 last=1'
}

@test "more samples than columns: the width is respected (COLUMNS and -W)" {
	run bash -c 'seq 1 100 | COLUMNS=30 obs-spark -a -n'
	assert_equal "${#output}" 30
	run bash -c 'seq 1 100 | obs-spark -a -n -W 12'
	# columns hold the means of equal time slices: rising all along
	assert_output '_..-::==+**#'
}

@test "an ASCII chart: axis labels, curve held between samples, time labels" {
	run obs-spark -c -a -W 20 -H 3 <<<$'0 0\n10 10\n20 5\n30 10'
	assert_success
	assert_output "10 |     *****     *
   |          *****
 0 |*****
   +----------------
    0             30"
}

@test "a braille chart uses U+2800 cells and box-drawing axes" {
	run obs-spark -c -W 30 -H 4 <<<$'2026-11-21T10:00:00Z 0\n2026-11-21T10:02:30Z 5\n2026-11-21T10:05:00Z 10'
	assert_success
	# 26 cells = 52 dot columns, 4 rows = 16 dot rows: 0 at dot column 0,
	# 5 at dot row 8 from dot column 26, 10 at dot row 15 in the last column
	assert_output "10 ┤                         ⢸
   │             ⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣸
   │             ⡇
 0 ┤⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⡇
   └──────────────────────────
    10:00:00          10:05:00"
}

@test "a block chart fills under the curve" {
	run obs-spark -c -b -W 12 -H 2 <<<$'0 0\n10 10'
	assert_line -n 0 --regexp '^10 ┤ +█$'
	assert_line -n 1 --regexp '^ 0 ┤▁+█$'
}

@test "--svg writes a picture with one path per series and a legend" {
	printf '0 1\n10 2\n20 NaN\n30 1\n' >a
	printf '0 5\n30 6\n' >b
	run bash -c 'grep . a b | obs-spark --svg out.svg'
	assert_success
	assert_output ''
	run grep -c '<path fill="none"' out.svg
	assert_output '2'
	# the NaN breaks series a's line into two pieces
	run bash -c "grep stroke-width out.svg | grep -o 'd=\"M[^\"]*\"'"
	assert_line -n 0 --regexp '^d="M[0-9. ]+L[0-9. ]+M[0-9. ]+"$'
	run grep -c '>a</text>' out.svg
	assert_output '1'
	command -v xmllint >/dev/null && { run xmllint --noout out.svg; assert_success; }
	true
}

@test "--svg to an unwritable place fails" {
	run obs-spark --svg /nonexistent/dir/x.svg <<<$'0 1\n1 2'
	assert_failure 1
}

@test "empty input draws nothing" {
	run obs-spark </dev/null
	assert_success
	assert_output ''
}
