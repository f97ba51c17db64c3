#!/usr/bin/env bats
# t40 — obs-alert: conditions, --for, levels, hysteresis, nodata, --exec,
# exit status, --follow on an endless stream; and the whole pipeline.

load common

series() {  # epoch seconds, one sample every 10 s
	printf '0 1\n10 150\n20 160\n30 170\n40 90\n50 70\n60 120\n70 10\n'
}

@test "one line per transition; exit 0 when it ends ok" {
	run obs-alert '> 100' < <(series)
	assert_success
	assert_output $'10 firing 150\n40 ok 90\n60 firing 120\n70 ok 10'
}

@test "exit 1 when it ends firing" {
	run obs-alert '> 100' < <(series | head -4)
	assert_failure 1
	assert_output '10 firing 150'
}

@test "--for N counts consecutive samples, pending meanwhile" {
	run obs-alert '>100' --for 3 < <(series)
	assert_success
	assert_output $'10 pending 150\n30 firing 170\n40 ok 90\n60 pending 120\n70 ok 10'
}

@test "--for DURATION is measured on the samples' times" {
	run obs-alert '> 100' -F 15s < <(series)
	assert_output $'10 pending 150\n30 firing 170\n40 ok 90\n60 pending 120\n70 ok 10'
	run obs-alert '> 100' -F 20s < <(series)
	assert_output $'10 pending 150\n30 firing 170\n40 ok 90\n60 pending 120\n70 ok 10'
	run obs-alert '> 100' -F 21s < <(series)
	assert_output $'10 pending 150\n40 ok 90\n60 pending 120\n70 ok 10'
}

@test "--clear gives hysteresis: recovery only below the clear threshold" {
	run obs-alert '> 100' --clear '< 80' < <(series)
	assert_output $'10 firing 150\n50 ok 70\n60 firing 120\n70 ok 10'
}

@test "warning and critical levels step up and down" {
	run obs-alert --warn '> 100' --crit '>= 160' < <(series)
	assert_output $'10 warning 150\n20 critical 160\n40 ok 90\n60 warning 120\n70 ok 10'
	run obs-alert --warn '> 50' --crit '> 155' < <(series)
	assert_output $'10 warning 150\n20 critical 160\n40 warning 90\n70 ok 10'
}

@test "ranges: between and outside, with NaN" {
	run obs-alert 'outside 50..130' <<<$'0 60\n1 140\n2 100\n3 NaN\n4 10'
	assert_failure 1
	assert_output $'1 firing 140\n2 ok 100\n4 firing 10'
	run obs-alert 'between 1..2' <<<$'0 0\n1 1\n2 2\n3 2.5'
	assert_output $'1 firing 1\n3 ok 2.5'
}

@test "comparison operators" {
	in=$'0 4\n1 5\n2 6'
	run obs-alert '>= 5' <<<"$in"; assert_output $'1 firing 5'
	run obs-alert '<= 5' <<<"$in"; assert_output $'0 firing 4\n2 ok 6'
	run obs-alert '== 5' <<<"$in"; assert_output $'1 firing 5\n2 ok 6'
	run obs-alert '!= 5' <<<"$in"; assert_output $'0 firing 4\n1 ok 5\n2 firing 6'
	run obs-alert '<1e-3' <<<$'0 0.0001'; assert_output '0 firing 0.0001'
}

@test "--nodata: a gap longer than the timeout, stamped timeout after the last sample" {
	run obs-alert '> 100' --nodata 1m <<<$'0 150\n30 150\n200 50\n210 150'
	assert_failure 1
	assert_output $'0 firing 150\n90 nodata NaN\n200 ok 50\n210 firing 150'
}

@test "series are evaluated apart and keep their key" {
	printf '0 1\n10 200\n' >a
	printf '0 300\n10 5\n' >b
	run bash -c "grep . a b | obs-alert '> 100'"
	assert_failure 1  # a ends firing
	assert_output $'a:10 firing 200\nb:0 firing 300\nb:10 ok 5'
}

@test "--exec runs a command per transition with the details in the environment" {
	run obs-alert '> 100' --for 2 --exec 'echo "$OBS_ALERT_PREV>$OBS_ALERT_STATE v=$OBS_ALERT_VALUE t=$OBS_ALERT_TIME s=$OBS_ALERT_SERIES c=$OBS_ALERT_COND since=$OBS_ALERT_SINCE" >>log' \
		<<<$'web 2026-11-21T10:00:00Z 1\nweb 2026-11-21T10:00:10Z 150\nweb 2026-11-21T10:00:20Z 160\nweb 2026-11-21T10:00:30Z 5'
	assert_success
	run cat log
	assert_output "ok>pending v=150 t=2026-11-21T10:00:10.000Z s=web c= since=2026-11-21T10:00:10.000Z
pending>firing v=160 t=2026-11-21T10:00:20.000Z s=web c=> 100 since=2026-11-21T10:00:10.000Z
firing>ok v=5 t=2026-11-21T10:00:30.000Z s=web c= since="
}

@test "--exec output follows the transition line; a failing command is reported" {
	run obs-alert '> 1' --exec 'echo "ran $OBS_ALERT_STATE"; exit 3' <<<$'0 5\n1 0'
	assert_line -n 0 '0 firing 5'
	assert_line -n 1 'ran firing'
	assert_line --partial 'command failed (exit status 3) on transition to firing'
	assert_success
}

@test "errors exit 2: bad condition, bad input, no condition" {
	run obs-alert '>> 5' </dev/null;   assert_failure 2; assert_output --partial "invalid condition '>> 5'"
	run obs-alert 'outside 5..1' </dev/null; assert_failure 2
	run obs-alert </dev/null;          assert_failure 2
	run obs-alert --for 1x '> 1' </dev/null; assert_failure 2
	run obs-alert '> 1' <<<$'0 5\nbad'
	assert_failure 2
	assert_line '0 firing 5'
	assert_line "obs-alert: stdin:2: missing time in 'bad'"
}

@test "empty input: ok, nothing printed" {
	run obs-alert '> 1' </dev/null
	assert_success
	assert_output ''
}

@test "--follow: transitions appear while the input is still open" {
	mkfifo in
	obs-alert -f '> 100' <in >out 2>&1 &
	pid=$!
	exec 8>in
	echo '0 150' >&8
	for i in $(seq 50); do [ -s out ] && break; sleep 0.1; done
	run cat out
	assert_output '0 firing 150'
	echo '10 50' >&8
	for i in $(seq 50); do [ "$(wc -l <out)" -ge 2 ] && break; sleep 0.1; done
	exec 8>&-
	wait $pid || true
	run cat out
	assert_output $'0 firing 150\n10 ok 50'
}

@test "--follow --nodata: silence on the wall clock goes to nodata" {
	mkfifo in
	obs-alert -f --nodata 300ms '> 100' <in >out 2>&1 &
	pid=$!
	exec 8>in
	echo "$(date +%s) 150" >&8
	for i in $(seq 50); do [ "$(wc -l <out)" -ge 2 ] && break; sleep 0.1; done
	exec 8>&-
	wait $pid || true
	run cut -d' ' -f2- out
	assert_output $'firing 150\nnodata NaN'
}

@test "the pipeline: a counter with a reset, its 5m rate, an alert with --for" {
	# a counter rising 20/s for 10 min, reset to 0 at 10:10, then 5/s
	awk 'BEGIN { for (t = 0; t <= 1200; t += 15) {
		v = t <= 600 ? 20 * t : 5 * (t - 600);
		printf "%d %d\n", 1795255200 + t, v } }' >counter.txt
	run bash -c "obs-rate -w 5m -s 1m counter.txt | obs-alert '> 10' --for 3 -T rfc3339"
	# 10:01 holds one minute of data: 1200 over 5m, not extrapolated back
	# beyond the counter's zero point = 4/s; 8, 12 (pending at 10:03), 16,
	# 20 (firing at 10:05, the third evaluation above 10). The reset at 10:10
	# keeps the loss (12000) in the increase: 10:13 sees 900-9600+12000 = 11/s,
	# 10:14 sees 1200-10800+12000 = 8/s: ok.
	assert_output "2026-11-21T10:03:00.000Z pending 12
2026-11-21T10:05:00.000Z firing 20
2026-11-21T10:14:00.000Z ok 8"
}
