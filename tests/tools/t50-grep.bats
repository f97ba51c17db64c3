#!/usr/bin/env bats
# t50 — obs-grep as a plain filter (stdin and -f files): every operator of the
# query language, time ranges on the lines' own times, counts, --by, output
# formats, exit codes. (Mount mode is covered by the fs suites.)

load common

setup_file() {
	export LOGS="$BATS_FILE_TMPDIR/mixed.log"
	cat > "$LOGS" <<'X'
{"ts":"2026-11-21T10:00:00Z","level":"info","service":"api","msg":"request ok","status":200}
{"ts":"2026-11-21T10:01:00Z","level":"error","service":"api","msg":"upstream timeout","status":504}
level=warn ts=2026-11-21T10:02:00Z service=db msg="slow query" dur=1.5
level=debug ts=2026-11-21T10:03:00Z service=db msg="cache hit"
2026-11-21T10:04:00Z ERROR payment failed: timeout talking to bank
Nov 21 10:05:00 host sshd[42]: Accepted publickey for root
10.0.0.1 - - [21/Nov/2026:10:06:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.0"
10.0.0.2 - - [21/Nov/2026:10:07:00 +0000] "POST /api/pay HTTP/1.1" 404 0 "-" "curl/8.0"
10.0.0.3 - - [21/Nov/2026:10:08:00 +0000] "GET /missing HTTP/1.1" 404 0 "-" "Mozilla/5.0"
X
}

g() { obs-grep -f "$LOGS" "$@"; }

@test "substrings and bare words (AND by juxtaposition)" {
	run g timeout
	assert_success
	assert_equal "${#lines[@]}" 2
	run g timeout bank
	assert_output '2026-11-21T10:04:00Z ERROR payment failed: timeout talking to bank'
	run g '"slow query"'
	assert_line --partial 'service=db msg="slow query"'
	run g nothing-like-this
	assert_failure 1
	assert_output ''
}

@test "level ordering across JSON, logfmt and plain lines" {
	run g 'level>=warn'
	assert_success
	assert_equal "${#lines[@]}" 3
	run g 'level>=error'
	assert_equal "${#lines[@]}" 2
	run g 'level<info'
	assert_output --partial 'cache hit'
	assert_equal "${#lines[@]}" 1
	run g 'level=WARNING'
	assert_output --partial 'slow query'
}

@test "field equality and numeric comparison" {
	run g status=404
	assert_equal "${#lines[@]}" 2
	run g 'status>=500'
	assert_output --partial 'upstream timeout'
	assert_equal "${#lines[@]}" 1
	run g 'status<300'
	assert_equal "${#lines[@]}" 2
	run g 'dur>1' service=db
	assert_output --partial 'slow query'
	run g method=POST
	assert_output --partial '/api/pay'
	run g 'service!=api' 'level>=debug'   # a line without service matches !=
	assert_equal "${#lines[@]}" 3
}

@test "regex, OR, NOT and parentheses" {
	run g '/time(out)? talking/'
	assert_output --partial 'bank'
	run g '~"^Nov [0-9]+"'
	assert_output --partial sshd
	run g 'path=~"^/api/"'
	assert_output --partial 'POST /api/pay'
	run g 'service=db or status=504'
	assert_equal "${#lines[@]}" 3
	run g 'status=404' '!curl'
	assert_output --partial Mozilla
	assert_equal "${#lines[@]}" 1
	run g 'status=404' -- -curl
	assert_output --partial Mozilla
	run g '(service=db | service=api)' 'not level=info' 'level!=debug'
	assert_equal "${#lines[@]}" 2
}

@test "time ranges use each line's own time (every supported form)" {
	run g -t '2026-11-21T10:03:30Z..2026-11-21T10:06:30Z'
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --partial 'ERROR payment'
	assert_line --index 1 --partial 'sshd'
	assert_line --index 2 --partial 'GET /index.html'
	run g -t '2026-11-21T10:00:30Z..2026-11-21T10:02:00Z'
	assert_equal "${#lines[@]}" 2
	run g -a 2026-11-21T10:07:00Z -w 30s
	assert_output --partial 'POST /api/pay'
	assert_equal "${#lines[@]}" 1
}

@test "counts and counts by field" {
	run g -c status=404
	assert_output 2
	run g -c nothing-here
	assert_failure 1
	assert_output 0
	run g --by service
	assert_output $'5 -\n2 api\n2 db'
	run g --by status 'status>0'
	assert_output $'2 200\n2 404\n1 504'
	run g 'level>=warn#count'
	assert_output 3
}

@test "json and logfmt output" {
	run g -o json status=504
	assert_output '{"time":"2026-11-21T10:01:00.000Z","ts":"2026-11-21T10:01:00Z","level":"error","service":"api","msg":"upstream timeout","status":"504","line":"{\"ts\":\"2026-11-21T10:01:00Z\",\"level\":\"error\",\"service\":\"api\",\"msg\":\"upstream timeout\",\"status\":504}"}'
	run g -o logfmt method=POST
	assert_output 'time=2026-11-21T10:07:00.000Z ip=10.0.0.2 user=- method=POST path=/api/pay proto=HTTP/1.1 status=404 bytes=0 referer=- agent=curl/8.0 line="10.0.0.2 - - [21/Nov/2026:10:07:00 +0000] \"POST /api/pay HTTP/1.1\" 404 0 \"-\" \"curl/8.0\""'
}

@test "stdin works like -f, and several files are read in turn" {
	run bash -c "obs-grep status=404 < '$LOGS' | wc -l"
	assert_output 2
	run obs-grep -c -f "$LOGS" -f "$LOGS" status=404
	assert_output 4
}

@test "errors exit 2 with a message" {
	run g '(unbalanced'
	assert_failure 2
	assert_output --partial "invalid query: unbalanced '('"
	run g '/[/'
	assert_failure 2
	assert_output --partial 'invalid regex'
	run g -t yesterday x
	assert_failure 2
	assert_output --partial "invalid range 'yesterday'"
	run g -o xml x
	assert_failure 2
	run obs-grep -f /nonexistent x
	assert_failure 2
	assert_output --partial "cannot open '/nonexistent'"
	run env -u OBS_MOUNT obs-grep -s app x
	assert_failure 2
}
