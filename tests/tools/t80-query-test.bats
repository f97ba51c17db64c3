#!/usr/bin/env bats
# t80 — obs-query test: promqltest files against the in-memory engine
# (counts, failure reports, skips, exit codes).

load common

@test "passing evals are counted, exit 0" {
	cat >ok.test <<-'E'
	# counters every minute
	load 1m
	    http_requests_total{job="api"} 0+60x10
	    http_requests_total{job="db"} 0+6x10

	eval instant at 10m sum by (job) (rate(http_requests_total[5m]))
	    {job="api"} 1
	    {job="db"} 0.1

	eval range from 0 to 2m step 1m http_requests_total{job="api"}
	    http_requests_total{job="api"} 0 60 120

	eval instant at 1m "text"
	    expect string "text"
	E
	run obs-query test ok.test
	assert_success
	assert_output 'ok.test: 3 passed, 0 failed, 0 skipped'
}

@test "a failure shows the command, why, expected and got; exit 1" {
	cat >bad.test <<-'E'
	load 1m
	    m 1 2 3

	eval instant at 2m m
	    m 4
	E
	run obs-query test bad.test
	assert_failure 1
	assert_line --index 0 'bad.test:4: FAIL eval instant at 2m m'
	assert_line --partial 'expected 4, got 3'
	assert_line 'bad.test: 0 passed, 1 failed, 0 skipped'
}

@test "expected failures, annotations and ordering" {
	cat >x.test <<-'E'
	load 1m
	    g{i="1"} 3
	    g{i="2"} 1

	eval instant at 0m rate(g)
	    expect fail

	eval instant at 0m g / on() g
	    expect fail msg: found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="g", i="1"}, {__name__="g", i="2"}];many-to-many matching not allowed: matching labels must be unique on one side

	eval instant at 5m rate(g[10m])
	    expect info regex: metric might not be a counter

	eval instant at 0m sort(g)
	    expect ordered
	    g{i="2"} 1
	    g{i="1"} 3
	E
	run obs-query test x.test
	assert_success
	assert_output 'x.test: 4 passed, 0 failed, 0 skipped'
}

@test "native histograms are skipped and counted" {
	cat >h.test <<-'E'
	load 1m
	    h {{schema:0 sum:1 count:1}}x2
	    f 1

	eval instant at 1m h
	    {} 1

	eval instant at 1m f
	    f 1
	E
	run obs-query test -v h.test
	assert_success
	assert_line 'h.test:5: skipped (native histograms): h'
	assert_line 'h.test: 1 passed, 0 failed, 1 skipped'
}

@test "several files end with a total; unreadable files and usage errors exit 2" {
	printf 'load 1m\n  a 1\n\neval instant at 0m a\n  a 1\n' >a.test
	run obs-query test a.test a.test
	assert_success
	assert_line 'total: 2 passed, 0 failed, 0 skipped (100.0% of 2 evals that ran)'
	run obs-query test nosuch.test
	assert_failure 2
	assert_output --partial "cannot read 'nosuch.test'"
	run obs-query test
	assert_failure 2
	OBS_MOUNT= run obs-query 'up'
	assert_failure 2
	assert_output --partial 'no mount: give -m MOUNT or set OBS_MOUNT'
}
