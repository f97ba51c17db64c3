#!/usr/bin/env bats
# t65 — staleness markers from obs-ship's scrapes (as Prometheus writes
# them): a series the target stops exposing ends at that scrape (the query
# finds it gone at once, not after the 5-minute lookback; its view ends;
# export holds the marker), a series with its own timestamp gets none, a
# target that goes down marks all its series stale (up 0 stays), a target
# removed from the targets file marks its up too (one whose options alone
# change does not), and obs-ship's exit writes none.

load ship_helper

L=

# exported SERIES: the stale markers export holds for SERIES (a count)
stale_count() {
	grep -cF "$1 stale " "$MNT/export" || true
}

# has_stale SERIES: export holds a stale marker for SERIES (for wait_for)
has_stale() {
	[ "$(stale_count "$1")" -ge 1 ]
}

# query_empty EXPR: obs-query EXPR at now answers nothing (for wait_for)
query_empty() {
	local out
	out=$(obs-query -m "$MNT" "$1") || return 1
	[ -z "$out" ]
}

@test "a series the target stops exposing ends at that scrape; one with its own timestamp does not" {
	ts=$((($(date +%s) - 60) * 1000))
	printf 'app_a 1\napp_b 2\napp_c 3 %s\n' "$ts" > "$T/body"
	serve a "$T/body"
	start_agent --scrape "http://127.0.0.1:$PORT_a/metrics" --job app --interval 1s
	L="instance=\"127.0.0.1:$PORT_a\",job=\"app\""
	wait_for 20 test -e "$MNT/metrics/app_b{$L}"
	wait_for 10 at_least 2 "$MNT/metrics/app_b{$L}"
	run obs-query -m "$MNT" "app_b"
	assert_output --partial "app_b{$L}"
	# app_b and app_c go; the next scrape writes app_b's marker, not app_c's
	printf 'app_a 1\n' > "$T/body.new" && mv "$T/body.new" "$T/body"
	wait_for 10 has_stale "app_b{$L}"
	n_b=$(wc -l < "$MNT/metrics/app_b{$L}")
	# the query sees app_b gone at once (without the marker: for 5 minutes)
	run obs-query -m "$MNT" "app_b"
	assert_success
	assert_output ""
	run obs-query -m "$MNT" "app_a"
	assert_output --partial "app_a{$L}"
	# the view shows the series ending: no NaN line, no new lines
	run grep -c -e NaN -e stale "$MNT/metrics/app_b{$L}"
	assert_output 0
	wait_for 10 at_least 3 "$MNT/metrics/up{$L}"   # a few scrapes later
	expect_eq "$(wc -l < "$MNT/metrics/app_b{$L}")" "$n_b"
	expect_eq "$(stale_count "app_b{$L}")" 1   # one marker, not one per scrape
	expect_eq "$(stale_count "app_c{$L}")" 0   # its own timestamps: no marker
	expect_eq "$(stale_count "app_a{$L}")" 0
	# it comes back: a new sample after the marker
	printf 'app_a 1\napp_b 5\n' > "$T/body.new" && mv "$T/body.new" "$T/body"
	wait_for 10 value_is "$MNT/metrics/app_b{$L}" 5
	run obs-query -m "$MNT" "app_b"
	assert_output --partial " 5"
	# obs-ship's exit writes no marker
	stop_agent
	expect_eq "$(stale_count "app_b{$L}")" 1
	expect_eq "$(stale_count "up{$L}")" 0
}

# at_least N FILE: FILE has N lines or more (re-read at each try)
at_least() {
	local n
	n=$(wc -l < "$2") || return 1
	[ "$n" -ge "$1" ]
}

@test "a target that goes down marks all its series stale; up stays 0" {
	printf 'svc_x{k="1"} 1\nsvc_x{k="2"} 2\n' > "$T/body"
	serve b "$T/body"
	start_agent --scrape "http://127.0.0.1:$PORT_b/metrics" --job svc --interval 1s --timeout 1s
	L="instance=\"127.0.0.1:$PORT_b\",job=\"svc\""
	wait_for 20 test -e "$MNT/metrics/svc_x{k=\"2\",$L}"
	run obs-query -m "$MNT" "count(svc_x)"
	assert_output --partial " 2"
	kill "${PEERS[0]}"
	wait "${PEERS[0]}" 2>/dev/null || true
	wait_for 10 value_is "$MNT/metrics/up{$L}" 0
	wait_for 5 query_empty "svc_x"
	expect_eq "$(stale_count "svc_x{$L,k=\"1\"}")" 1
	expect_eq "$(stale_count "svc_x{$L,k=\"2\"}")" 1
	expect_eq "$(stale_count "up{$L}")" 0
	run obs-query -m "$MNT" "up"
	assert_output --partial " 0"
	stop_agent
}

@test "a target removed from the targets file marks its series and its up stale; a change of options does not" {
	printf 'gone_m 1\n' > "$T/body"
	serve c "$T/body"
	U="http://127.0.0.1:$PORT_c/metrics"
	echo "$U gone interval=1s" > "$T/targets"
	start_agent --targets "$T/targets"
	L="instance=\"127.0.0.1:$PORT_c\",job=\"gone\""
	wait_for 20 value_is "$MNT/metrics/up{$L}" 1
	wait_for 10 status_has "job=gone .* scrapes=[3-9]"
	# only its options change: a new target of the same series, no markers
	echo "$U gone interval=2s" > "$T/targets.new" && mv "$T/targets.new" "$T/targets"
	wait_for 10 status_has "job=gone .* scrapes=[12] "
	expect_eq "$(stale_count "gone_m{$L}")" 0
	expect_eq "$(stale_count "up{$L}")" 0
	: > "$T/targets.new" && mv "$T/targets.new" "$T/targets"
	wait_for 10 has_stale "up{$L}"
	expect_eq "$(stale_count "gone_m{$L}")" 1
	expect_eq "$(stale_count "scrape_duration_seconds{$L}")" 1
	run obs-query -m "$MNT" "up"
	assert_output ""
	stop_agent
}
