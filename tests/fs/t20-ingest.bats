#!/usr/bin/env bats
# t20-ingest — every line format written to MOUNT/ingest, detected per line:
# Prometheus text, OpenMetrics, Influx line protocol, Graphite plaintext,
# StatsD, and several of them in one write.

load helper

setup() {
	obs_setup
	T0=$(aligned_ago 600 60)   # samples 10 minutes ago, on a minute boundary
}
teardown() { obs_teardown; }

# series SERIES-FILE-NAME: cat that series
series() { cat "$MNT/metrics/$1"; }

@test "prometheus text: # TYPE/# HELP, ms timestamps, label order canonicalised" {
	cat >"$MNT/ingest" <<EOF
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 ${T0}000
http_requests_total{code="400",method="post"} 3 ${T0}000
http_requests_total{method="post",code="200"} 1028 $((T0 + 60))000
metric_without_timestamp_and_labels 12.47
EOF
	expect_eq "$(ls "$MNT/metrics")" 'http_requests_total{code="200",method="post"}
http_requests_total{code="400",method="post"}
metric_without_timestamp_and_labels'
	expect_eq "$(series 'http_requests_total{code="200",method="post"}')" "$(rfc3339 $T0) 1027
$(rfc3339 $((T0 + 60))) 1028"
	# any label order names the same file
	expect_eq "$(series 'http_requests_total{method="post",code="200"}')" \
		"$(series 'http_requests_total{code="200",method="post"}')"
	expect_eq "$(series 'http_requests_total{code="400",method="post"}')" "$(rfc3339 $T0) 3"
	# no timestamp: stamped now
	now=$(date +%s)
	t=$(date -u -d "$(cut -d' ' -f1 "$MNT/metrics/metric_without_timestamp_and_labels")" +%s)
	[ $((now - t)) -le 5 ]
	[ $((now - t)) -ge 0 ]
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/metric_without_timestamp_and_labels")" 12.47
	# HELP/TYPE lines are no samples and no errors
	expect_file_eq "$MNT/errors" ""
}

@test "prometheus text: escapes \\\" \\\\ \\n in label values keep the real value" {
	printf '%s\n' \
		"msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9 ${T0}000" \
		>"$MNT/ingest"
	name='msdos_file_access_time_seconds{error="Cannot find file:\n\"FILE.TXT\"",path="C:\\DIR\\FILE.TXT"}'
	expect_eq "$(ls "$MNT/metrics")" "$name"
	expect_eq "$(series "$name")" "$(rfc3339 $T0) 1458255915"
	# the index holds the decoded values
	expect_eq "$(ls "$MNT/labels/path")" 'C:\DIR\FILE.TXT'
	expect_eq "$(ls "$MNT/labels/error")" "$(printf 'Cannot find file:\n"FILE.TXT"')"
	expect_eq "$(ls "$MNT/select/path=C:\\DIR\\FILE.TXT")" "$name"
}

@test "prometheus text: special values +Inf -Inf NaN and exponent forms" {
	cat >"$MNT/ingest" <<EOF
something_weird{problem="division by zero"} +Inf ${T0}000
neg_inf -Inf ${T0}000
nan_metric NaN ${T0}000
exp_metric 1.5e3 ${T0}000
tiny -0.000125 ${T0}000
EOF
	expect_eq "$(series 'something_weird{problem="division by zero"}')" "$(rfc3339 $T0) +Inf"
	expect_eq "$(series neg_inf)" "$(rfc3339 $T0) -Inf"
	expect_eq "$(series nan_metric)" "$(rfc3339 $T0) NaN"
	expect_eq "$(series exp_metric)" "$(rfc3339 $T0) 1500"
	expect_eq "$(series tiny)" "$(rfc3339 $T0) -0.000125"
}

@test "openmetrics: # UNIT, seconds timestamps with a fraction, exemplars, # EOF" {
	cat >"$MNT/ingest" <<EOF
# TYPE om_seconds gauge
# UNIT om_seconds seconds
om_seconds{a="1"} 2.5 $((T0 + 1)).5
om_seconds{a="1"} 3 $((T0 + 2)).000
# TYPE om_requests counter
om_requests_total{x="y"} 7 $((T0 + 3)).250 # {trace_id="abc"} 1 $((T0 + 3)).000
# EOF
EOF
	expect_eq "$(series 'om_seconds{a="1"}')" "$(rfc3339 $((T0 + 1)) | sed 's/\.000Z/.500Z/') 2.5
$(rfc3339 $((T0 + 2))) 3"
	expect_eq "$(series 'om_requests_total{x="y"}')" "$(rfc3339 $((T0 + 3)) | sed 's/\.000Z/.250Z/') 7"
	expect_file_eq "$MNT/errors" ""
}

@test "influx line protocol: tags, field types, escapes, ns timestamps" {
	printf '%s\n' \
		"cpu,host=h1,region=eu\\ west usage_user=1.5,usage_system=2i,up=true,down=F,note=\"a string\" ${T0}000000000" \
		"mem,host=h1 used=3u $((T0 + 60))123456789" \
		"weather temp=-4.5 $((T0 + 120))000000000" \
		>"$MNT/ingest"
	expect_eq "$(ls "$MNT/metrics")" 'cpu_down{host="h1",region="eu west"}
cpu_up{host="h1",region="eu west"}
cpu_usage_system{host="h1",region="eu west"}
cpu_usage_user{host="h1",region="eu west"}
mem_used{host="h1"}
weather_temp'
	expect_eq "$(series 'cpu_usage_user{host="h1",region="eu west"}')" "$(rfc3339 $T0) 1.5"
	expect_eq "$(series 'cpu_usage_system{host="h1",region="eu west"}')" "$(rfc3339 $T0) 2"
	expect_eq "$(series 'cpu_up{host="h1",region="eu west"}')" "$(rfc3339 $T0) 1"
	expect_eq "$(series 'cpu_down{host="h1",region="eu west"}')" "$(rfc3339 $T0) 0"
	# nanoseconds floored to milliseconds
	expect_eq "$(series 'mem_used{host="h1"}')" "$(rfc3339 $((T0 + 60)) | sed 's/\.000Z/.123Z/') 3"
	expect_eq "$(series weather_temp)" "$(rfc3339 $((T0 + 120))) -4.5"
	expect_eq "$(ls "$MNT/labels/region")" "eu west"
}

@test "graphite plaintext: dotted paths, tags, seconds timestamps, -1 = now" {
	printf '%s\n' \
		"servers.web-1.cpu.load 0.75 $T0" \
		"disk.used;host=a;dc=b 100 $((T0 + 1)).5" \
		"thing.x 5 -1" >"$MNT/ingest"
	expect_eq "$(series servers_web_1_cpu_load)" "$(rfc3339 $T0) 0.75"
	expect_eq "$(series 'disk_used{dc="b",host="a"}')" "$(rfc3339 $((T0 + 1)) | sed 's/\.000Z/.500Z/') 100"
	now=$(date +%s)
	t=$(date -u -d "$(cut -d' ' -f1 "$MNT/metrics/thing_x")" +%s)
	[ $((now - t)) -le 5 ]
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/thing_x")" 5
}

@test "statsd: counters with sample rate, timers, gauges, sets, dogstatsd tags and |T" {
	printf '%s\n' \
		'page.views:3|c' \
		'req.time:320|ms|@0.5|#env:prod,svc:api' \
		'gauge.temp:-3|g|#dc:x' \
		'sampled:2|c|@0.5' \
		'users:alice|s' \
		"t.ts:9|g|T$T0" >"$MNT/ingest"
	v() { cut -d' ' -f2 "$MNT/metrics/$1"; }
	expect_eq "$(v page_views)" 3
	expect_eq "$(v 'req_time{env="prod",svc="api"}')" 320
	expect_eq "$(v 'gauge_temp{dc="x"}')" -3
	expect_eq "$(v sampled)" 4
	expect_eq "$(v users)" 1
	expect_eq "$(series t_ts)" "$(rfc3339 $T0) 9"
}

@test "mixed formats in one write all land, and map to the same series when they name it" {
	printf '%s\n' \
		"# TYPE up gauge" \
		"up{job=\"a\"} 1 ${T0}000" \
		"up;job=a 2 $((T0 + 60))" \
		"up,job=a value=3 $((T0 + 120))000000000" \
		"up:4|g|#job:a|T$((T0 + 180))" \
		"graph.only 7 $T0" >"$MNT/ingest"
	expect_eq "$(series 'up{job="a"}')" "$(rfc3339 $T0) 1
$(rfc3339 $((T0 + 60))) 2
$(rfc3339 $((T0 + 180))) 4"
	expect_eq "$(series 'up_value{job="a"}')" "$(rfc3339 $((T0 + 120))) 3"
	expect_eq "$(series graph_only)" "$(rfc3339 $T0) 7"
	expect_eq "$(ls "$MNT/metrics" | wc -l)" 3
}

@test "CRLF line ends, blank lines and a last line without newline are accepted" {
	printf 'crlf_a 1 %s000\r\n\r\n\ncrlf_b 2 %s000' "$T0" "$T0" >"$MNT/ingest"
	expect_eq "$(series crlf_a)" "$(rfc3339 $T0) 1"
	expect_eq "$(series crlf_b)" "$(rfc3339 $T0) 2"
}

@test "a scrape written in many small writes (line split across writes) is reassembled" {
	for i in $(seq 0 199); do
		echo "split_metric{i=\"$((i % 4))\"} $i $((T0 + i))000"
	done >"$T/scrape.txt"
	# dd with a 7-byte block size cuts every line across write() calls
	dd if="$T/scrape.txt" of="$MNT/ingest" bs=7 status=none
	total=0
	for k in 0 1 2 3; do
		n=$(wc -l <"$MNT/metrics/split_metric{i=\"$k\"}")
		total=$((total + n))
	done
	expect_eq "$total" 200
	expect_eq "$(awk '{s += $2} END {print s}' "$MNT"/metrics/split_metric*)" 19900
	expect_file_eq "$MNT/errors" ""
}

@test "a large scrape in one write: every sample arrives" {
	for s in $(seq 0 99); do
		for i in $(seq 0 49); do
			echo "bulk{s=\"$s\"} $i $((T0 + i))000"
		done
	done >"$T/bulk.txt"
	cp "$T/bulk.txt" "$MNT/ingest"
	expect_eq "$(ls "$MNT/select/__name__=bulk" | wc -l)" 100
	expect_eq "$(cat "$MNT"/metrics/bulk* | wc -l)" 5000
	expect_grep '^samples +5000$' "$MNT/status"
}

@test "untimed lines written to ingest in quick succession never collide" {
	# 50 writes of one untimed sample each, as fast as python can: several
	# land in the same millisecond and must still get distinct times
	run python3 - "$MNT/ingest" <<'EOF2'
import os, sys
failed = 0
for i in range(50):
    fd = os.open(sys.argv[1], os.O_WRONLY)
    try:
        os.write(fd, b"quick_ingest %d\n" % i)
    except OSError:
        failed += 1
    os.close(fd)
print(failed)
EOF2
	[ "$status" -eq 0 ]
	n=$(wc -l <"$MNT/metrics/quick_ingest")
	if [ "$output" != 0 ] || [ "$n" -ne 50 ]; then
		{ echo "untimed ingest samples in the same ms share 'now': $output of 50 writes failed (duplicate timestamp), $n kept" >&2; false; }
	fi
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/quick_ingest" | tr '\n' ' ')" "$(seq 0 49 | tr '\n' ' ')"
}
