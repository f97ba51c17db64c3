#!/usr/bin/env bats
# t51 — obs-grep against a mount (the daemon's search views, answered from
# the log index) gives the same answers as obs-grep filtering the same lines
# from a file; obs-ship feeds a mount; both before and after the head is cut
# into indexed segments (ctl compact).

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
: "${OBS_BUILD:=$BATS_TEST_DIRNAME/../../build}"
PATH="$OBS_BUILD/bin:$PATH"
load ../fs/helper

setup() {
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	obs_setup
	LOGS=$T/mixed.log
	cat > "$LOGS" <<'X'
{"ts":"2026-11-21T10:00:00Z","level":"info","service":"api","msg":"request ok","status":200}
{"ts":"2026-11-21T10:01:00Z","level":"error","service":"api","msg":"upstream timeout","status":504}
level=warn ts=2026-11-21T10:02:00Z service=db msg="slow query" dur=1.5
level=debug ts=2026-11-21T10:03:00Z service=db msg="cache hit"
2026-11-21T10:04:00Z ERROR payment failed: timeout talking to bank
10.0.0.1 - - [21/Nov/2026:10:06:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.0"
10.0.0.2 - - [21/Nov/2026:10:07:00 +0000] "POST /api/pay HTTP/1.1" 404 0 "-" "curl/8.0"
10.0.0.3 - - [21/Nov/2026:10:08:00 +0000] "GET /missing HTTP/1.1" 404 0 "-" "Mozilla/5.0"
X
	cat "$LOGS" >> "$MNT/logs/mixed"
}

teardown() {
	obs_teardown
}

QUERIES=(
	'timeout' '"slow query"' 'level>=warn' 'level<info' 'status=404' 'status>=500'
	'dur>1 service=db' 'method=POST' '/time(out)? talking/' 'path=~"^/api/"'
	'service=db or status=504' 'status=404 !curl' '(service=db | service=api) not level=info'
	'nothing-like-this' '*'
)

same_answers() {
	local q
	for q in "${QUERIES[@]}"; do
		a=$(obs-grep -f "$LOGS" "$q"; echo "rc=$?")
		b=$(obs-grep -s mixed "$MNT" "$q"; echo "rc=$?")
		[ "$a" = "$b" ] || { echo "query '$q': file <<$a>> mount <<$b>>"; return 1; }
		a=$(obs-grep -c -f "$LOGS" "$q")
		b=$(obs-grep -c -s mixed "$MNT" "$q")
		[ "$a" = "$b" ] || { echo "count '$q': file $a mount $b"; return 1; }
	done
	a=$(obs-grep -f "$LOGS" --by level)
	b=$(obs-grep -s mixed "$MNT" --by level)
	[ "$a" = "$b" ] || { echo "by level: <<$a>> <<$b>>"; return 1; }
	a=$(obs-grep -f "$LOGS" -t 2026-11-21T10:01:30Z..2026-11-21T10:06:00Z 'level>=debug or status>0')
	b=$(obs-grep -s mixed -t 2026-11-21T10:01:30Z..2026-11-21T10:06:00Z "$MNT" 'level>=debug or status>0')
	[ "$a" = "$b" ] || { echo "range: <<$a>> <<$b>>"; return 1; }
}

@test "mount mode and filter mode give the same answers (head, then segments)" {
	run same_answers
	assert_success
	echo compact > "$MNT/ctl"
	run same_answers
	assert_success
	# and after a restart, from the segments
	obs_remount
	run same_answers
	assert_success
}

@test "search views: counts, by-field, ranges, -T and json output" {
	echo compact > "$MNT/ctl"
	run cat "$MNT/logs/mixed@2026-11-21T10:06:00Z..2026-11-21T11:00:00Z?status=404#count"
	assert_output 2
	run cat "$MNT/logs/mixed?#by=level"
	assert_output $'3 -\n2 error\n1 debug\n1 info\n1 warn'
	run obs-grep -T -s mixed "$MNT" status=504
	assert_output '2026-11-21T10:01:00.000Z {"ts":"2026-11-21T10:01:00Z","level":"error","service":"api","msg":"upstream timeout","status":504}'
	run obs-grep -o json -s mixed "$MNT" method=POST
	assert_output --partial '"time":"2026-11-21T10:07:00.000Z","ip":"10.0.0.2"'
	run obs-grep -s mixed "$MNT" '(unbalanced'
	assert_failure 2
}

@test "obs-ship into the mount, then search it" {
	mkdir "$T/src"
	# a generated nginx access log: 5000 lines, varied clients, paths,
	# statuses (about 1 in 7 is a 404) and agents, one second apart
	awk 'BEGIN {
		split("GET POST GET HEAD GET PUT", m, " ")
		split("/ /index.html /api/v1/items /static/app.js /login /img/logo.png /missing", p, " ")
		split("200 200 304 200 404 500 200 301 200 404 200 200 503 200", st, " ")
		split("Mozilla/5.0 (X11; Linux x86_64)|curl/8.4.0|Go-http-client/1.1", ua, "|")
		for (i = 0; i < 5000; i++) {
			s = 16 + i; mm = 46 + int(s / 60); s %= 60; h = 4 + int(mm / 60); mm %= 60
			printf "10.%d.%d.%d - - [21/Nov/2026:%02d:%02d:%02d +0000] \"%s %s?q=%d HTTP/1.1\" %s %d \"-\" \"%s\"\n",
				i % 7, i % 13, i % 251, h, mm, s, m[i % 6 + 1], p[i % 7 + 1], i,
				st[i % 14 + 1], (i * 37) % 9000 + 1, ua[i % 3 + 1]
		}
	}' > "$T/src/nginx.log"
	[ "$(wc -l < "$T/src/nginx.log")" -eq 5000 ]
	obs-ship -m "$MNT" -p "$T/pos" "$T/src/*.log" 2>"$T/ship.err" &
	S=$!
	for i in $(seq 100); do
		[ "$(obs-grep -c -s nginx "$MNT" '*' 2>/dev/null)" = 5000 ] && break
		sleep 0.1
	done
	kill -TERM $S
	wait $S
	run obs-grep -c -s nginx "$MNT" '*'
	assert_output 5000
	want=$(obs-grep -c -f "$T/src/nginx.log" status=404)
	assert_equal "$want" 714
	echo compact > "$MNT/ctl"
	run obs-grep -c -s nginx "$MNT" status=404
	assert_output "$want"
	src=$(cat "$T/src/nginx.log")
	run obs-grep -s nginx "$MNT" '*'
	assert_output "$src"
}
