#!/usr/bin/env bats
# t61 — obs-ship scraping /metrics into a mount: Debian's node_exporter (its
# node_* series, up 1, the scrape_* series; up 0 and an errors line once it
# is killed), target labels and exported_* on conflicts, honor_labels and
# honor_timestamps, the targets file re-read on change, OpenMetrics with
# gzip and Prometheus' Accept header, failed scrapes (HTTP 500, a bad
# line), and a slow target that does not hold back the others.

load ship_helper

NE=/usr/bin/prometheus-node-exporter

# at_least_lines FILE N: FILE reads and has N lines or more (re-read at each try)
at_least_lines() {
	local n
	n=$(wc -l < "$1") || return 1
	[ "$n" -ge "$2" ]
}

@test "node_exporter: node_* series and up 1, then up 0 with the reason in errors once it is killed" {
	[ -x "$NE" ] || skip "no prometheus-node-exporter"
	port=$(free_port)
	"$NE" --web.listen-address=127.0.0.1:$port --collector.disable-defaults --collector.loadavg \
		--collector.meminfo --collector.time 2>"$T/ne.err" &
	ne=$!
	PEERS+=($ne)
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"
	start_agent --scrape "http://127.0.0.1:$port/metrics" --job node --interval 1s --timeout 1s
	# (a timeout above the interval is cut to it)
	L="instance=\"127.0.0.1:$port\",job=\"node\""
	wait_for 20 value_is "$MNT/metrics/up{$L}" 1
	wait_for 5 test -e "$MNT/metrics/node_load1{$L}"
	wait_for 5 test -e "$MNT/metrics/node_memory_MemTotal_bytes{$L}"
	n=$(ls "$MNT/metrics" | grep -c "^node_.*{$L}")
	[ "$n" -ge 10 ] || { echo "only $n node_* series" >&2; false; }
	# the value is the exporter's
	want=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '$1 == "node_memory_MemTotal_bytes" {print $2}')
	got=$(last_value "$MNT/metrics/node_memory_MemTotal_bytes{$L}")
	[ "$(awk -v a="$got" -v b="$want" 'BEGIN { print (a == b) }')" = 1 ] || { echo "$got != $want" >&2; false; }
	# the synthetic series: samples scraped as many as the body's sample lines;
	# at the first scrape every series was added, at the second none
	wait_for 5 at_least_lines "$MNT/metrics/scrape_series_added{$L}" 2
	samples=$(head -1 "$MNT/metrics/scrape_samples_scraped{$L}" | awk '{print $2}')
	added=$(cat "$MNT/metrics/scrape_series_added{$L}" | awk '{print $2}' | head -2 | paste -sd' ')
	[ "$samples" -ge 50 ]
	expect_eq "$added" "$samples 0"
	expect_eq "$(head -1 "$MNT/metrics/scrape_samples_post_metric_relabeling{$L}" | awk '{print $2}')" "$samples"
	dur=$(last_value "$MNT/metrics/scrape_duration_seconds{$L}")
	[ "$(awk -v d="$dur" 'BEGIN { print (d > 0 && d < 1) }')" = 1 ]
	# every series of the scrape carries the scrape's time: up's and node_load1's match
	t_up=$(tail -1 "$MNT/metrics/up{$L}" | awk '{print $1}')
	run grep -c "^$t_up " "$MNT/metrics/node_load1{$L}"
	assert_output 1
	wait_for 5 status_has "^target url=http://127.0.0.1:$port/metrics job=node .* up=1 "
	kill "$ne"
	wait "$ne" || true
	wait_for 10 value_is "$MNT/metrics/up{$L}" 0
	expect_grep "scrape: .*(Connection refused|Couldn't connect).*: http://127.0.0.1:$port/metrics" "$MNT/errors"
	expect_eq "$(last_value "$MNT/metrics/scrape_samples_scraped{$L}")" 0
	wait_for 5 status_has "up=0 .*error=\".*(Connection refused|Couldn't connect)"
	run obs-ship --status --status-file "$T/status"
	assert_success
	assert_output --partial "job=node instance=127.0.0.1:$port up=0"
	stop_agent
}

@test "target labels, exported_ on conflicts, honor_labels, honor_timestamps, a targets file re-read on change" {
	now_ms=$(($(date +%s) * 1000))
	ts=$((now_ms - 60000))
	cat > "$T/body" <<X
# TYPE app_requests_total counter
app_requests_total{code="200",job="inner"} 7
app_temp 21.5 $ts
X
	serve a "$T/body"
	U="http://127.0.0.1:$PORT_a/metrics"
	cat > "$T/targets" <<X
# url job labels and options
$U app env=prod interval=1s
$U?b=1 app2 interval=1s honor_labels=true honor_timestamps=false
X
	start_agent --targets "$T/targets"
	I="instance=\"127.0.0.1:$PORT_a\""
	wait_for 10 test -e "$MNT/metrics/app_requests_total{code=\"200\",env=\"prod\",exported_job=\"inner\",$I,job=\"app\"}"
	# honor_labels: the scraped job wins
	wait_for 10 test -e "$MNT/metrics/app_requests_total{code=\"200\",$I,job=\"inner\"}"
	# honor_timestamps (default): the sample's own time; false: the scrape's time
	t1=$(head -1 "$MNT/metrics/app_temp{env=\"prod\",$I,job=\"app\"}" | awk '{print $1}')
	expect_eq "$(date -u -d "$t1" +%s)000" "$((ts / 1000))000"
	t2=$(head -1 "$MNT/metrics/app_temp{$I,job=\"app2\"}" | awk '{print $1}')
	[ "$(date -u -d "$t2" +%s)" -ge $((now_ms / 1000 - 5)) ]
	# re-read on change: a third target (renamed into place), the second one removed
	printf '%s app env=prod interval=1s\n%s?c=1 app3 interval=1s team="a b"\n' "$U" "$U" > "$T/targets.new"
	mv "$T/targets.new" "$T/targets"
	wait_for 10 value_is "$MNT/metrics/up{$I,job=\"app3\",team=\"a b\"}" 1
	wait_for 5 bash -c "! grep -q 'job=app2 ' '$T/status'"
	status_has "job=app instance=127.0.0.1:$PORT_a up=1"
	# a file that does not parse: reported, the targets kept
	echo "ftp://nope x" >> "$T/targets"
	wait_for 10 status_has "^targets_file error=.*line 3: target URL must start with http:// or https://"
	status_has "job=app3 "
	stop_agent
}

@test "OpenMetrics with gzip: Prometheus' Accept header, seconds timestamps" {
	now=$(date +%s)
	cat > "$T/om" <<X
# TYPE om_events counter
om_events_total 5 $((now - 30)).5
# TYPE om_level gauge
om_level 3
# EOF
X
	serve om "$T/om" --type 'application/openmetrics-text; version=1.0.0; charset=utf-8' --headers "$T/hdrs"
	start_agent --scrape "http://127.0.0.1:$PORT_om/metrics" --job om --interval 1s --timeout 500ms
	L="instance=\"127.0.0.1:$PORT_om\",job=\"om\""
	wait_for 10 value_is "$MNT/metrics/om_events_total{$L}" 5
	expect_eq "$(last_value "$MNT/metrics/om_level{$L}")" 3
	t=$(head -1 "$MNT/metrics/om_events_total{$L}" | awk '{print $1}')
	expect_eq "$(date -u -d "$t" +%s)" "$((now - 30))"
	expect_grep '^accept=application/openmetrics-text;version=1.0.0,.*text/plain;version=0.0.4;q=0.5' "$T/hdrs"
	expect_grep '^accept-encoding=.*gzip' "$T/hdrs"
	expect_grep '^timeout=0.5$' "$T/hdrs"
	stop_agent
}

@test "OpenMetrics exemplars go through to the mount unchanged, a bad one reported there" {
	now=$(date +%s)
	cat > "$T/om" <<X
# TYPE ex_latency_seconds histogram
ex_latency_seconds_bucket{le="0.5"} 3 $((now - 20)).000 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.47 $((now - 20)).250
ex_latency_seconds_bucket{le="+Inf"} 4 # {trace_id=oops} 0.9
ex_latency_seconds_count 4
# EOF
X
	serve om "$T/om" --type 'application/openmetrics-text; version=1.0.0; charset=utf-8'
	start_agent --scrape "http://127.0.0.1:$PORT_om/metrics" --job ex --interval 1s --timeout 500ms
	L="instance=\"127.0.0.1:$PORT_om\",job=\"ex\""
	wait_for 10 value_is "$MNT/metrics/ex_latency_seconds_bucket{le=\"0.5\",$L}" 3
	stop_agent
	t=$(date -u -d "@$((now - 20))" +%Y-%m-%dT%H:%M:%S)
	expect_file_eq "$MNT/metrics/ex_latency_seconds_bucket{le=\"0.5\",$L}#exemplars" \
		"$t.250Z 0.47 {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}"
	# the sample's time is kept exactly (seconds with a fraction in the write)
	expect_eq "$(head -1 "$MNT/metrics/ex_latency_seconds_bucket{le=\"0.5\",$L}" | cut -d' ' -f1)" "$t.000Z"
	# the bad exemplar is the mount's to report; its sample is kept
	expect_eq "$(last_value "$MNT/metrics/ex_latency_seconds_bucket{le=\"+Inf\",$L}")" 4
	expect_grep "invalid exemplar: expected '\"' before label value \\(the sample is kept\\): ex_latency_seconds_bucket\\{.*le=\"\\+Inf\".*\\} # \\{trace_id=oops\\} 0.9" "$MNT/errors"
}

@test "a failed scrape is up 0 with the reason: HTTP 500, a line that does not parse" {
	echo 'x 1' > "$T/ok"
	serve e500 "$T/ok" --status 500
	printf 'good 1\nbad{ 2\n' > "$T/bad"
	serve bad "$T/bad"
	start_agent --interval 1s --scrape "http://127.0.0.1:$PORT_e500/metrics" --job e500 \
		--scrape "http://127.0.0.1:$PORT_bad/metrics" --job bad
	wait_for 10 value_is "$MNT/metrics/up{instance=\"127.0.0.1:$PORT_e500\",job=\"e500\"}" 0
	wait_for 10 value_is "$MNT/metrics/up{instance=\"127.0.0.1:$PORT_bad\",job=\"bad\"}" 0
	expect_grep "scrape: server returned HTTP status 500: http://127.0.0.1:$PORT_e500/metrics" "$MNT/errors"
	expect_grep "scrape: parse error on line 2: .*: http://127.0.0.1:$PORT_bad/metrics" "$MNT/errors"
	# like Prometheus, nothing of a failed scrape is stored
	[ ! -e "$MNT/metrics/good{instance=\"127.0.0.1:$PORT_bad\",job=\"bad\"}" ]
	[ ! -e "$MNT/metrics/x{instance=\"127.0.0.1:$PORT_e500\",job=\"e500\"}" ]
	stop_agent
}

@test "a slow target does not hold back the others" {
	echo 'slow_v 1' > "$T/slow"
	echo 'fast_v 1' > "$T/fast"
	serve slow "$T/slow" --delay 4
	serve fast "$T/fast"
	start_agent --scrape "http://127.0.0.1:$PORT_slow/metrics" --job slow --interval 10s --timeout 6s \
		--scrape "http://127.0.0.1:$PORT_fast/metrics" --job fast --interval 1s
	F="$MNT/metrics/up{instance=\"127.0.0.1:$PORT_fast\",job=\"fast\"}"
	wait_for 10 test -e "$F"
	sleep 2.5
	n=$(cat "$F" | wc -l)
	[ "$n" -ge 3 ] || { echo "fast target scraped $n times while the slow one answered" >&2; false; }
	[ ! -e "$MNT/metrics/up{instance=\"127.0.0.1:$PORT_slow\",job=\"slow\"}" ]
	wait_for 5 value_is "$MNT/metrics/up{instance=\"127.0.0.1:$PORT_slow\",job=\"slow\"}" 1
	stop_agent
}

@test "usage errors: scraping needs a mount, bad durations and targets exit 2" {
	mkdir "$T/d"
	run obs-ship -d "$T/d" --scrape http://127.0.0.1:1/metrics
	assert_failure 2
	assert_output --partial "need -m MOUNT"
	run obs-ship -m "$MNT" --scrape http://127.0.0.1:1/metrics --interval 5x
	assert_failure 2
	assert_output --partial "invalid duration '5x'"
	run obs-ship -m "$MNT" --scrape ftp://x/
	assert_failure 2
	assert_output --partial "invalid target 'ftp://x/'"
	run obs-ship --status --status-file "$T/none"
	assert_failure 2
	assert_output --partial "no status in"
}

@test "the contrib examples are valid: the targets file and the policy load" {
	C=$BATS_TEST_DIRNAME/../../contrib
	cp "$C/targets.example" "$T/targets"
	start_agent --targets "$T/targets" --policy "$C/policy.example"
	wait_for 10 status_has '^target url=http://127.0.0.1:8080/metrics job=api '
	run grep -c '^target ' "$T/status"
	assert_output 5
	run grep -c '^targets_file error' "$T/status"
	assert_output 0
	stop_agent
}
