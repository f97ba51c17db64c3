#!/usr/bin/env bats
# t70-mount — the pipeline tools on a real obsfsd mount: a counter with a
# reset ingested with explicit timestamps, read back through views and
# series files, and turned into rates, buckets, sparklines and alerts.
#
# The counter errors_total has 50 samples t_i = T0 + 10 i s (T0 a whole
# minute about ten minutes ago):
#   v_i = 300 i            for i = 0..20     (v_20 = 6000)
#   v_i = 300 (i - 20)     for i = 21..25    (reset at i = 21)
#   v_i = 1500             for i = 26..49    (flat)
# so every step i = 1..25 increases by 300 (the reset's increase is its new
# value, 300) and nothing after. With --window 5m the window at t_k holds
# samples max(0, k-30)..k; the first sample is 0 (extrapolation toward the
# start stops at the zero point) or exactly on the window's start, so the
# rate is (300 x steps in the window) x (1/300):
#   r_k = k (k = 1..25), 25 (k = 26..30), 55 - k (k = 30..49)
# in doubles as Prometheus computes it (increase x (1/window)), which is
# exact except r_48 = 2100 x (1/300) = 7.000000000000001.

load common
load ../fs/helper

setup() {
	obs_setup
	T0=$(aligned_ago 600 60)
	local i v
	for i in $(seq 0 49); do
		if [ "$i" -le 20 ]; then v=$((300 * i))
		elif [ "$i" -le 25 ]; then v=$((300 * (i - 20)))
		else v=1500; fi
		echo "errors_total $v $(((T0 + 10 * i) * 1000))"
	done >"$T/in.prom"
	cat "$T/in.prom" >"$MNT/ingest"
	cd "$T" || return 1
}

teardown() {
	cd /
	obs_teardown
}

# t OFFSET: the time of T0 + OFFSET seconds as the mount prints it
t() { rfc3339 $((T0 + $1)); }

@test "mount: the ingested counter reads back with its timestamps" {
	run cat "$MNT/metrics/errors_total@-1h"
	assert_success
	[ "${#lines[@]}" -eq 50 ]
	assert_line --index 0 "$(t 0) 0"
	assert_line --index 20 "$(t 200) 6000"
	assert_line --index 21 "$(t 210) 300"
	assert_line --index 49 "$(t 490) 1500"
}

@test "mount: cat @-1h | obs-rate --window 5m | obs-alert '> 10' --for 3" {
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate --window 5m | obs-alert '> 10' --for 3"
	# r_k > 10 for k = 11..44: pending at the first, firing at the third,
	# ok at r_45 = 10; it ended ok, so the status is 0
	assert_success
	expect_eq "$output" "$(t 110) pending 11
$(t 130) firing 13
$(t 450) ok 10"
}

@test "mount: the alert ends firing when the stream stops while above" {
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | head -41 | obs-rate -w 5m | obs-alert '> 10' -F 3"
	[ "$status" -eq 1 ]
	expect_eq "$output" "$(t 110) pending 11
$(t 130) firing 13"
}

@test "mount: obs-rate --window 5m | obs-agg 1m max" {
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate --window 5m | obs-agg 1m max"
	assert_success
	# buckets of six samples k = 6b..6b+5 (no rate at k = 0)
	expect_eq "$output" "$(t 0) 5
$(t 60) 11
$(t 120) 17
$(t 180) 23
$(t 240) 25
$(t 300) 25
$(t 360) 19
$(t 420) 13
$(t 480) 7.000000000000001"
}

@test "mount: the plain rate counts the reset as an increase (obs-agg 1m min)" {
	run sh -c "cat '$MNT/metrics/errors_total' | obs-rate | obs-agg 1m min"
	assert_success
	# 30/s for k = 1..25 (the reset at k = 21 included), 0 after
	expect_eq "$output" "$(t 0) 30
$(t 60) 30
$(t 120) 30
$(t 180) 30
$(t 240) 0
$(t 300) 0
$(t 360) 0
$(t 420) 0
$(t 480) 0"
}

@test "mount: obs-spark of the bucketed rate" {
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m | obs-agg 1m max | obs-spark -W 80"
	assert_success
	# level = round((v - 5) / 20 x 7): 5 11 17 23 25 25 19 13 7 -> 0 2 4 6 7 7 5 3 1
	expect_eq "$output" "▁▃▅▇██▆▄▂  min=5 max=25 last=7.000000000000001"
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m | obs-agg 1m max | obs-spark -a -n -W 80"
	assert_success
	[ "${#output}" -eq 9 ]
}

@test "mount: grep . x y | obs-rate keeps the series apart" {
	printf '%s\n' "$T0 0" "$((T0 + 10)) 50" "$((T0 + 20)) 100" "$((T0 + 30)) 20" \
		"$((T0 + 40)) 70" >"$MNT/metrics/x"
	printf '%s\n' "$T0 1000" "$((T0 + 10)) 1100" "$((T0 + 20)) 1300" >"$MNT/metrics/y"
	cd "$MNT" || return 1
	run sh -c 'grep . metrics/x metrics/y | obs-rate'
	assert_success
	# x resets at +30: the increase is the new value 20, over 10 s
	expect_eq "$output" "metrics/x:$(t 10) 5
metrics/x:$(t 20) 5
metrics/x:$(t 30) 2
metrics/x:$(t 40) 5
metrics/y:$(t 10) 10
metrics/y:$(t 20) 20"
	run sh -c 'grep . metrics/x metrics/y | obs-rate | obs-alert "> 4"'
	[ "$status" -eq 1 ]
	expect_eq "$output" "metrics/x:$(t 10) firing 5
metrics/x:$(t 30) ok 2
metrics/x:$(t 40) firing 5
metrics/y:$(t 10) firing 10"
	run sh -c 'grep . metrics/x metrics/y | obs-rate | obs-agg --by sum 1m sum'
	assert_success
	expect_eq "$output" "$(t 0) 47"
}

@test "mount: obs-alert --exec writes every transition with its details" {
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m |
		obs-alert '> 10' --for 3 --exec 'echo \"\$OBS_ALERT_PREV>\$OBS_ALERT_STATE \$OBS_ALERT_VALUE \$OBS_ALERT_TIME since=\$OBS_ALERT_SINCE cond=\$OBS_ALERT_COND\" >>\"$T/events\"' >/dev/null"
	assert_success
	expect_file_eq "$T/events" "ok>pending 11 $(t 110) since=$(t 110) cond=
pending>firing 13 $(t 130) since=$(t 110) cond=> 10
firing>ok 10 $(t 450) since= cond="
}

@test "mount: time=epoch feeds the tools epoch seconds" {
	obs_remount -o time=epoch
	run head -2 "$MNT/metrics/errors_total"
	expect_eq "$output" "$T0 0
$((T0 + 10)) 300"
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m | obs-alert '> 10' --for 3"
	assert_success
	expect_eq "$output" "$((T0 + 110)) pending 11
$((T0 + 130)) firing 13
$((T0 + 450)) ok 10"
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m | obs-agg 1m max | head -2"
	expect_eq "$output" "$T0 5
$((T0 + 60)) 11"
	# -T rfc3339 converts back to the default form
	run sh -c "cat '$MNT/metrics/errors_total@-1h' | obs-rate -w 5m -T rfc3339 | obs-alert '> 10' -F 3"
	expect_eq "$output" "$(t 110) pending 11
$(t 130) firing 13
$(t 450) ok 10"
}
