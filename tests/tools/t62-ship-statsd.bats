#!/usr/bin/env bats
# t62 — obs-ship's StatsD listener with a real client (Debian's
# python3-statsd): counters (count, rate, sample rates), gauges with deltas,
# timers (count, sum, min, max, mean, percentiles), sets, pipelines (several
# lines per datagram), DogStatsD tags; malformed and oversized datagrams
# counted; idle counters flushed as 0 and gauges kept at each interval.

load ship_helper

# the UDP port the agent bound (it listens on port 0, the status names it)
statsd_port() {
	sed -n 's/^statsd listen=127.0.0.1:\([0-9]*\) .*/\1/p' "$T/status"
}

packets_at_least() {
	local n
	n=$(sed -n 's/^statsd .* packets=\([0-9]*\) .*/\1/p' "$T/status")
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}

@test "a StatsD client's counters, gauges, timers and sets arrive aggregated" {
	start_agent --statsd 127.0.0.1:0 --flush 1h --percentiles 50,90,99
	wait_for 10 status_has '^statsd listen=127.0.0.1:[1-9]'
	port=$(statsd_port)
	$PY - "$port" <<'X'
import socket, statsd, sys
port = int(sys.argv[1])
c = statsd.StatsClient('127.0.0.1', port, prefix='app')
for i in range(10):
    c.incr('hits')
c.incr('hits', 5)
c.decr('hits', 2)
c.gauge('temp', 20)
c.gauge('temp', 5, delta=True)
c.gauge('temp', -2, delta=True)
for v in range(1, 101):
    c.timing('lat', v)
c.set('users', 'alice')
c.set('users', 'bob')
c.set('users', 'alice')
with c.pipeline() as p:          # one datagram, several lines
    p.incr('piped')
    p.incr('piped')
    p.incr('piped', 3)
    p.timing('piped_lat', 7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    s.sendto(b'raw.sampled:1|c|@0.1', ('127.0.0.1', port))
s.sendto(b'api.req:1|c|#route:/a,code:200\napi.req:2|c|#route:/a,code:200\napi.req:4|c|#route:/b', ('127.0.0.1', port))
s.sendto(b'this is not statsd', ('127.0.0.1', port))
s.sendto(b'big:1|c\n' + b'x' * 9000, ('127.0.0.1', port))
X
	# 10 + 1 + 1 + 3 + 100 + 3 + 1 python datagrams, 6 raw ones
	wait_for 10 packets_at_least 125
	stop_agent   # the last flush
	M=$MNT/metrics
	expect_eq "$(last_value "$M/app_hits_count")" 13
	r=$(last_value "$M/app_hits_rate")
	[ "$(awk -v r="$r" 'BEGIN { print (r > 0 && r < 13) }')" = 1 ]
	expect_eq "$(last_value "$M/app_temp")" 23
	expect_eq "$(last_value "$M/app_lat_count")" 100
	expect_eq "$(last_value "$M/app_lat_sum")" 5050
	expect_eq "$(last_value "$M/app_lat_min")" 1
	expect_eq "$(last_value "$M/app_lat_max")" 100
	expect_eq "$(last_value "$M/app_lat_mean")" 50.5
	expect_eq "$(last_value "$M/app_lat{quantile=\"0.5\"}")" 50
	expect_eq "$(last_value "$M/app_lat{quantile=\"0.9\"}")" 90
	expect_eq "$(last_value "$M/app_lat{quantile=\"0.99\"}")" 99
	expect_eq "$(last_value "$M/app_users_unique")" 2
	expect_eq "$(last_value "$M/app_piped_count")" 5
	expect_eq "$(last_value "$M/app_piped_lat_max")" 7
	expect_eq "$(last_value "$M/raw_sampled_count")" 30
	expect_eq "$(last_value "$M/api_req_count{code=\"200\",route=\"%2Fa\"}")" 3
	expect_eq "$(last_value "$M/api_req_count{route=\"%2Fb\"}")" 4
	[ ! -e "$M/big_count" ]
	expect_grep '^statsd .* bad_lines=1 malformed_packets=1 oversized_packets=1 ' "$T/status"
	expect_grep "statsd: 1 malformed lines, the last 'this is not statsd': missing value: 127.0.0.1:$port\$" "$MNT/errors"
}

@test "each flush interval: idle counters are 0, gauges keep their value" {
	start_agent --statsd 127.0.0.1:0 --flush 1s
	wait_for 10 status_has '^statsd listen=127.0.0.1:[1-9]'
	port=$(statsd_port)
	$PY -c "import statsd; c = statsd.StatsClient('127.0.0.1', $port); c.incr('once', 4); c.gauge('level', 9)"
	wait_for 10 test -e "$MNT/metrics/once_count"
	wait_for 10 value_is "$MNT/metrics/once_count" 0
	run bash -c "awk '{print \$2}' '$MNT/metrics/once_count' | sort -n | uniq | paste -sd' '"
	assert_output "0 4"
	n=$(cat "$MNT/metrics/level" | wc -l)
	[ "$n" -ge 2 ]
	run bash -c "awk '{print \$2}' '$MNT/metrics/level' | sort -u"
	assert_output 9
	stop_agent
}

@test "statsd usage errors: a bad address, bad percentiles" {
	run obs-ship -m "$MNT" --statsd 127.0.0.1:notaport
	assert_failure 2
	assert_output --partial "invalid statsd address '127.0.0.1:notaport'"
	run obs-ship -m "$MNT" --statsd 127.0.0.1:0 --percentiles 50,0
	assert_failure 2
	assert_output --partial "invalid percentile '0'"
}
