#!/usr/bin/env bats
# t47 — staleness markers from the rule evaluator, as Prometheus writes
# them: a recording rule's series that the rule stops producing ends at that
# evaluation (a query finds it gone at once, not after the 5-minute
# lookback; export holds the marker), a removed rule file ends its series,
# and ALERTS{...} ends when an alert resolves or its pending is dropped.
# Also markers written by hand (`stale` in ingest and series files), how
# views and export show them, and export's text read back by ingest.

load helper
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() { obs_setup -o alert_interval=1s; }
teardown() { obs_teardown; }

# stale_count SERIES: how many staleness markers export holds for SERIES
stale_count() {
	local out
	out=$(cat "$MNT/export") || return 1
	grep -cF "$1 stale " <<<"$out" || true
}

has_stale() {
	[ "$(stale_count "$1")" -ge 1 ]
}

# query_is EXPR WANT: the series obs-query EXPR answers at now, one per line
query_is() {
	local out
	out=$(obs-query -m "$MNT" "$1" | awk '{print $1}') || return 1
	[ "$out" = "$2" ]
}

# lines_at_least FILE N: FILE has N lines or more (re-read at each try)
lines_at_least() {
	local n
	n=$(wc -l < "$1") || return 1
	[ "$n" -ge "$2" ]
}

@test "a recording rule's series it stops producing ends at that evaluation" {
	printf 'groups:\n  - name: rec\n    rules:\n      - record: room:hot\n        expr: temp > 30\n' \
		> "$MNT/alerts/rules/rec.yml"
	printf 'temp{room="a"} 35\ntemp{room="b"} 36\n' > "$MNT/ingest"
	wait_for 10 query_is 'room:hot' $'room:hot{room="a"}\nroom:hot{room="b"}'
	echo 'temp{room="b"} 20' > "$MNT/ingest"
	wait_for 10 has_stale 'room:hot{room="b"}'
	# gone from queries at once; room a stays; no marker in the view
	run obs-query -m "$MNT" 'room:hot'
	assert_success
	assert_output --regexp '^room:hot\{room="a"\} [^ ]+ 35$'
	run grep -c -e NaN -e stale "$MNT/metrics/room:hot{room=\"b\"}"
	assert_output 0
	expect_eq "$(stale_count 'room:hot{room="a"}')" 0
	# one marker, not one per evaluation
	n=$(wc -l < "$MNT/metrics/room:hot{room=\"a\"}")
	wait_for 10 lines_at_least "$MNT/metrics/room:hot{room=\"a\"}" $((n + 2))
	expect_eq "$(stale_count 'room:hot{room="b"}')" 1
	# removing the file ends the rest
	rm "$MNT/alerts/rules/rec.yml"
	wait_for 10 has_stale 'room:hot{room="a"}'
	run obs-query -m "$MNT" 'room:hot'
	assert_output ""
}

rules() {   # rules FOR
	cat <<EOT
groups:
  - name: room
    rules:
      - alert: Hot
        expr: temp > 30
        for: $1
EOT
}

@test "ALERTS ends when an alert resolves and when its pending is dropped" {
	rules 0s > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	F='ALERTS{alertname="Hot",alertstate="firing",room="a"}'
	wait_for 10 query_is 'ALERTS' "$F"
	echo 'temp{room="a"} 20' > "$MNT/ingest"
	wait_for 10 has_stale "$F"
	has_stale 'ALERTS_FOR_STATE{alertname="Hot",room="a"}'
	run obs-query -m "$MNT" 'ALERTS'
	assert_output ""
	# a pending alert that goes away
	rules 1h > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="c"} 40' > "$MNT/ingest"
	P='ALERTS{alertname="Hot",alertstate="pending",room="c"}'
	wait_for 10 query_is 'ALERTS' "$P"
	echo 'temp{room="c"} 10' > "$MNT/ingest"
	wait_for 10 has_stale "$P"
	run obs-query -m "$MNT" 'ALERTS'
	assert_output ""
}

@test "stale written by hand to ingest or a series file ends the series; views, export and its round trip" {
	now=$(date +%s)
	printf 'q_depth{q="a"} 3 %s\nq_depth{q="b"} 4 %s\n' $(((now - 20) * 1000)) $(((now - 20) * 1000)) > "$MNT/ingest"
	echo "$((now - 10)) 5" >> "$MNT/metrics/q_depth{q=\"b\"}"
	wait_for 5 query_is 'q_depth' $'q_depth{q="a"}\nq_depth{q="b"}'
	echo "q_depth{q=\"a\"} stale $(((now - 5) * 1000))" > "$MNT/ingest"
	echo "$((now - 5)) stale" >> "$MNT/metrics/q_depth{q=\"b\"}"
	run obs-query -m "$MNT" 'q_depth'
	assert_success
	assert_output ""
	# before the markers both are there
	run obs-query -m "$MNT" --time $((now - 8)) 'count(q_depth)'
	assert_output --regexp ' 2$'
	# the series file ends at its last value; a :STEP view counts values only
	run cat "$MNT/metrics/q_depth{q=\"b\"}"
	assert_output --regexp $'^[^ ]+ 4\n[^ ]+ 5$'
	run cat "$MNT/metrics/q_depth{q=\"b\"}@-1h:1h:count"
	assert_output --regexp ' 2$'
	# export writes the marker, and another mount's ingest takes it back
	expect_eq "$(stale_count 'q_depth{q="a"}')" 1
	expect_eq "$(stale_count 'q_depth{q="b"}')" 1
	run grep -c 'NaN' "$MNT/export"
	assert_output 0
	run grep -c 'stale' "$MNT/export.jsonl"
	assert_output 0
	# a range holding only markers has no JSON line for the series
	run grep -c '"q_depth"' "$MNT/export.jsonl@$((now - 6))..$((now - 4))"
	assert_output 0
	run grep -c '"q_depth"' "$MNT/export.jsonl@$((now - 11))..$((now - 4))"
	assert_output 1
	# ingest takes export's text back (renamed here, into the same mount)
	grep '^q_depth' "$MNT/export" | sed 's/^q_depth/q_copy/' > "$T/copy.prom"
	expect_lines "$T/copy.prom" 5
	cp "$T/copy.prom" "$MNT/ingest"
	run obs-query -m "$MNT" --time $((now - 8)) 'count(q_copy)'
	assert_output --regexp ' 2$'
	run obs-query -m "$MNT" 'q_copy'
	assert_success
	assert_output ""
}
