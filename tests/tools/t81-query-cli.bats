#!/usr/bin/env bats
# t81 — obs-query against a mount: options, the mount from -m or
# OBS_MOUNT, refusals with exit 2 (the answers themselves are checked
# against a real mount in tests/fs/ once the query file is there).

load common

@test "without a mount: exit 2 and a clear message" {
	unset OBS_MOUNT
	run obs-query up
	assert_failure 2
	assert_output --partial 'no mount: give -m MOUNT or set OBS_MOUNT'
}

@test "OBS_MOUNT names the mount, -m overrides it" {
	OBS_MOUNT=$T/nowhere run obs-query up
	assert_failure 2
	assert_output --partial "cannot open '$T/nowhere/query'"
	OBS_MOUNT=$T/nowhere run obs-query -m "$T/other" up
	assert_failure 2
	assert_output --partial "cannot open '$T/other/query'"
}

@test "bad times, steps and formats are usage errors" {
	run obs-query -m "$T" --time yesterday up
	assert_failure 2
	assert_output --partial "invalid time 'yesterday'"
	run obs-query -m "$T" --start -1h --step 0 up
	assert_failure 2
	assert_output --partial "invalid step '0'"
	run obs-query -m "$T" --start now --end -1h up
	assert_failure 2
	assert_output --partial "is before start time"
	run obs-query -m "$T" --time now --start -1h up
	assert_failure 2
	assert_output --partial '--time is for instant queries'
	run obs-query -m "$T" -o xml up
	assert_failure 2
	assert_output --partial "invalid output format 'xml'"
	run obs-query -m "$T"
	assert_failure 2
	assert_output --partial 'usage: obs-query'
}

@test "-h prints the synopsis and exits 0" {
	run obs-query -h
	assert_success
	assert_line --index 0 --partial 'usage: obs-query [-m mount] [--time T | --start A --end B --step S] [-o text|json] expr'
}

@test "the answer read back from the query file is printed as it is" {
	mkdir m
	ln -s /dev/null m/query   # accepts the request, answers nothing
	run obs-query -m m --start -1h --end now --step 1m 'sum(up)'
	assert_success
	assert_output ''
}
