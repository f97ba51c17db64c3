#!/usr/bin/env bats
# t84-exemplars — OpenMetrics exemplars against a real mount: read beside a
# series (metrics/SERIES[@RANGE]#exemplars), the link from a latency bucket
# to its trace and from the trace to its logs, bad and out-of-order
# exemplars (an errors line, the sample kept), restarts and kill -9,
# exemplar_retention.

load helper

setup() {
	obs_setup
	# a few seconds back: an exemplar at NOW.250 must already be inside
	# ranges that end now (@-1h), however fast the test runs
	NOW=$(( $(date +%s) - 5 ))
	TID=4bf92f3577b34da6a3ce929d0e0e4736
}

teardown() { obs_teardown; }

# write FILE's bytes to PATH in one write(2): "ok N" or the errno name
write_file() {
	python3 -c 'import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    print("ok", os.write(fd, open(sys.argv[2], "rb").read()))
except OSError as e:
    print(errno.errorcode[e.errno])
os.close(fd)' "$1" "$2"
}

# an OpenMetrics histogram scrape whose 0.5 bucket carries an exemplar
histogram() {  # TIME(s) TRACE_ID
	cat <<EOF
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 1 $1.000
http_request_duration_seconds_bucket{le="0.5"} 3 $1.000 # {trace_id="$2",span_id="00f067aa0ba902b7"} 0.47 $1.250
http_request_duration_seconds_bucket{le="+Inf"} 3 $1.000
http_request_duration_seconds_count 3 $1.000
http_request_duration_seconds_sum 0.9 $1.000
# EOF
EOF
}

B05='http_request_duration_seconds_bucket{le="0.5"}'

# wait (up to ~10 s) until traces/ID is there: the trace was decided and kept
wait_trace() {
	local i
	for i in $(seq 100); do
		[ -e "$MNT/traces/$1" ] && return 0
		sleep 0.1
	done
	grep '^traces_' "$MNT/status" >&2
	return 1
}

@test "an exemplar leads from a latency bucket to its trace, and the trace to its logs" {
	# the request's span (an error, so the default policies keep it) and its log lines
	printf '{"trace_id":"%s","span_id":"00f067aa0ba902b7","parent_span_id":"","service":"checkout","operation":"POST /pay","start_time":%s,"duration_ms":470,"status":"error"}\n' \
		"$TID" "$((NOW * 1000))" >"$MNT/traces/ingest"
	echo "level=error msg=\"payment failed\" order=42 trace_id=$TID" >>"$MNT/logs/checkout"
	echo "level=info msg=\"unrelated\" trace_id=00000000000000000000000000000001" >>"$MNT/logs/checkout"
	echo "level=warn msg=\"card retry\" trace_id=$TID" >>"$MNT/logs/payment"
	histogram "$NOW" "$TID" >"$T/scrape"
	expect_eq "$(write_file "$MNT/ingest" "$T/scrape" | cut -d' ' -f1)" ok
	# the bucket's exemplar, beside the series
	want="$(rfc3339 "$NOW" | sed 's/\.000Z/.250Z/') 0.47 {trace_id=\"$TID\",span_id=\"00f067aa0ba902b7\"}"
	expect_file_eq "$MNT/metrics/$B05@-1h#exemplars" "$want"
	expect_file_eq "$MNT/metrics/$B05#exemplars" "$want"
	expect_file_eq "$MNT/metrics/http_request_duration_seconds_count#exemplars" ""
	# the sample itself is there as ever
	expect_file_eq "$MNT/metrics/$B05" "$(rfc3339 "$NOW") 3"
	# follow the trace_id: the trace, then its logs
	id=$(sed -n 's/.*trace_id="\([0-9a-f]*\)".*/\1/p' "$MNT/metrics/$B05@-1h#exemplars")
	expect_eq "$id" "$TID"
	wait_trace "$id"
	expect_lines "$MNT/traces/$id" 1
	expect_grep "\"operation\":\"POST /pay\"" "$MNT/traces/$id"
	got=$(cut -d' ' -f1,3- "$MNT/traces/$id.logs" | sort)
	expect_eq "$got" "checkout level=error msg=\"payment failed\" order=42 trace_id=$TID
payment level=warn msg=\"card retry\" trace_id=$TID"
}

@test "#exemplars takes a range (no STEP), works under select/ and on aliases, is not listed and not writable" {
	histogram "$((NOW - 7200))" 0000000000000000000000000000000a >"$T/old"
	histogram "$NOW" "$TID" >"$T/new"
	write_file "$MNT/ingest" "$T/old" >/dev/null
	write_file "$MNT/ingest" "$T/new" >/dev/null
	expect_lines "$MNT/metrics/$B05#exemplars" 2
	expect_lines "$MNT/metrics/$B05@-1h#exemplars" 1
	expect_grep "trace_id=\"$TID\"" "$MNT/metrics/$B05@-1h#exemplars"
	expect_lines "$MNT/metrics/$B05@-3h..-1h#exemplars" 1
	expect_grep 'trace_id="0000000000000000000000000000000a"' "$MNT/metrics/$B05@-3h..-1h#exemplars"
	expect_file_eq "$MNT/metrics/$B05@-1d..-5h#exemplars" ""
	# the same view through select/ and labels/
	expect_lines "$MNT/select/le=0.5/$B05@-1h#exemplars" 1
	expect_lines "$MNT/labels/le/0.5/$B05#exemplars" 2
	# a series listed under an alias (its name is over NAME_MAX) has them too
	long=$(printf 'v%.0s' $(seq 300))
	printf 'long_bucket{le="%s"} 1 %s.000 # {trace_id="%s"} 0.2 %s.000\n# EOF\n' "$long" "$NOW" "$TID" "$NOW" >"$T/long"
	write_file "$MNT/ingest" "$T/long" >/dev/null
	alias=$(ls "$MNT/metrics" | grep '^long_bucket')
	[[ "$alias" == *~* ]]
	expect_file_eq "$MNT/metrics/$alias#exemplars" "$(rfc3339 "$NOW") 0.2 {trace_id=\"$TID\"}"
	expect_file_eq "$MNT/metrics/$alias@-1h#exemplars" "$(rfc3339 "$NOW") 0.2 {trace_id=\"$TID\"}"
	# not a STEP view, not a bad range, not a file of the listing, not writable
	run cat "$MNT/metrics/$B05@-1h:5m#exemplars"
	expect_fail "No such file or directory"
	run cat "$MNT/metrics/$B05@nonsense#exemplars"
	expect_fail "No such file or directory"
	run cat "$MNT/metrics/nosuch#exemplars"
	expect_fail "No such file or directory"
	run bash -c "ls '$MNT/metrics' | grep -c exemplars"
	expect_eq "$output" 0
	run bash -c "echo 1 >'$MNT/metrics/$B05#exemplars'"
	expect_fail "ermission denied"
}

@test "a bad or out-of-order exemplar: EINVAL and an errors line, the sample kept" {
	histogram "$NOW" "$TID" >"$T/first"
	write_file "$MNT/ingest" "$T/first" >/dev/null
	{
		echo "# TYPE a counter"
		echo "a_total 1 $NOW.000 # {trace_id=broken} 1"
		echo "$B05 4 $((NOW + 1)).000 # {trace_id=\"late\"} 0.3 $((NOW - 60))"
		echo "b_total 2 $NOW.000 # {trace_id=\"$(printf 'x%.0s' $(seq 130))\"} 1"
		echo "# EOF"
	} >"$T/bad"
	expect_eq "$(write_file "$MNT/ingest" "$T/bad")" EINVAL
	# every sample is kept
	expect_file_eq "$MNT/metrics/a_total" "$(rfc3339 "$NOW") 1"
	expect_file_eq "$MNT/metrics/b_total" "$(rfc3339 "$NOW") 2"
	expect_eq "$(tail -1 "$MNT/metrics/$B05")" "$(rfc3339 $((NOW + 1))) 4"
	# the exemplars are not, each with its reason
	expect_grep "ingest: invalid exemplar: expected '\"' before label value \\(the sample is kept\\): a_total # \\{trace_id=broken\\} 1" "$MNT/errors"
	expect_grep "ingest: out-of-order exemplar \\(older than the series' newest\\): $B05 # \\{trace_id=\"late\"\\} 0.3 " "$MNT/errors"
	expect_grep "ingest: exemplar labels longer than 128 characters \\(the sample is kept\\): b_total # \\{trace_id=\"xxx" "$MNT/errors"
	expect_lines "$MNT/metrics/$B05#exemplars" 1
	expect_file_eq "$MNT/metrics/a_total#exemplars" ""
	# the same scrape again (a retry) is accepted silently
	expect_eq "$(write_file "$MNT/ingest" "$T/first" | cut -d' ' -f1)" ok
	expect_grep '^exemplars +1 in 1 series$' "$MNT/status"
	expect_grep '^exemplars_rejected +3$' "$MNT/status"
	expect_grep '^exemplars_duplicate +1$' "$MNT/status"
}

@test "exemplars survive a remount, a compaction and kill -9; time=epoch reads epoch seconds" {
	histogram "$NOW" "$TID" >"$T/s1"
	write_file "$MNT/ingest" "$T/s1" >/dev/null
	want=$(slurp "$MNT/metrics/$B05#exemplars")
	obs_remount
	expect_file_eq "$MNT/metrics/$B05#exemplars" "$want"
	echo compact >"$MNT/ctl"
	histogram "$((NOW + 10))" 0000000000000000000000000000000b >"$T/s2"
	write_file "$MNT/ingest" "$T/s2" >/dev/null
	want="$want
$(rfc3339 $((NOW + 10)) | sed 's/\.000Z/.250Z/') 0.47 {trace_id=\"0000000000000000000000000000000b\",span_id=\"00f067aa0ba902b7\"}"
	obs_crash
	obs_start
	expect_file_eq "$MNT/metrics/$B05#exemplars" "$want"
	obs_remount -o time=epoch
	expect_file_eq "$MNT/metrics/$B05#exemplars" "$NOW.25 0.47 {trace_id=\"$TID\",span_id=\"00f067aa0ba902b7\"}
$((NOW + 10)).25 0.47 {trace_id=\"0000000000000000000000000000000b\",span_id=\"00f067aa0ba902b7\"}"
}

@test "exemplar_retention: older exemplars are refused, dropped as they age, and not logged again" {
	obs_remount -o exemplar_retention=1h
	now=$(date +%s)
	# one past the retention already, one 6 s from it, one fresh
	{
		echo "old_total 1 $((now - 7200)).000 # {trace_id=\"a\"} 1 $((now - 7200)).000"
		echo "aging_total 1 $((now - 3600 + 6)).000 # {trace_id=\"b\"} 1 $((now - 3600 + 6)).000"
		echo "fresh_total 1 $now.000 # {trace_id=\"c\"} 1 $now.000"
	} >"$T/in"
	# not an error: past the policy is not bad input (the samples are kept)
	expect_eq "$(write_file "$MNT/ingest" "$T/in" | cut -d' ' -f1)" ok
	expect_file_eq "$MNT/metrics/old_total" "$(rfc3339 $((now - 7200))) 1"
	expect_file_eq "$MNT/metrics/old_total#exemplars" ""
	expect_lines "$MNT/metrics/aging_total#exemplars" 1
	expect_grep '^exemplars +2 in 2 series$' "$MNT/status"
	expect_grep '^exemplars_expired +1$' "$MNT/status"
	expect_file_eq "$MNT/errors" ""
	# the compactor's tick drops the aging one once it is an hour old
	wait_for 30 grep -Eq '^exemplars_expired +2$' "$MNT/status"
	expect_file_eq "$MNT/metrics/aging_total#exemplars" ""
	expect_grep '^exemplars +1 in 1 series$' "$MNT/status"
	# a restart replays it from the write-ahead log and drops it again at once
	obs_remount -o exemplar_retention=1h
	expect_file_eq "$MNT/metrics/aging_total#exemplars" ""
	expect_grep '^exemplars_expired +1$' "$MNT/status"
	# after a compaction it is not in the log any more, even after kill -9
	echo compact >"$MNT/ctl"
	obs_crash
	obs_start -o exemplar_retention=1h
	expect_file_eq "$MNT/metrics/aging_total#exemplars" ""
	expect_grep '^exemplars_expired +0$' "$MNT/status"
	expect_file_eq "$MNT/metrics/fresh_total#exemplars" "$(rfc3339 "$now") 1 {trace_id=\"c\"}"
	# a bad value is refused at mount
	run "$OBSFSD" -o exemplar_retention=5x "$T/d2" "$T/m2"
	expect_fail "invalid duration '5x' for exemplar_retention"
	expect_eq "$status" 2
	[ ! -e "$T/d2" ]
}
