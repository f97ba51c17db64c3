#!/usr/bin/env bats
# t10 — obs-rate: consecutive rates, resets, increase/delta/irate, and the
# Prometheus windowed rate with its extrapolation rules (expected values
# derived by hand from the rules in obs-rate(1)).

load common

counter() {  # t=0,10,20,30 (epoch seconds) with a reset at 20
	printf '0 10\n10 20\n20 5\n30 15\n'
}

@test "rate between consecutive samples; a decrease is a reset" {
	run obs-rate < <(counter)
	assert_success
	assert_output $'10 1\n20 0.5\n30 1'
}

@test "--increase is reset-aware and not divided by time" {
	run obs-rate --increase < <(counter)
	assert_output $'10 10\n20 5\n30 10'
}

@test "--delta treats values as a gauge (no reset handling)" {
	run obs-rate --delta < <(counter)
	assert_output $'10 10\n20 -15\n30 10'
}

@test "--irate without a window equals the consecutive rate" {
	run obs-rate -I < <(counter)
	assert_output $'10 1\n20 0.5\n30 1'
}

@test "uneven intervals and fractional seconds" {
	run obs-rate <<<$'2026-11-21T10:00:00.000Z 0\n2026-11-21T10:00:00.250Z 1\n2026-11-21T10:00:02.250Z 2'
	assert_output $'2026-11-21T10:00:00.250Z 4\n2026-11-21T10:00:02.250Z 0.5'
}

@test "NaN propagates to the rates next to it" {
	run obs-rate <<<$'0 0\n10 NaN\n20 20\n30 30'
	assert_output $'10 NaN\n20 NaN\n30 1'
}

@test "huge counter values keep their precision" {
	run obs-rate --increase <<<$'0 9007199254740000\n10 9007199254740990'
	assert_output '10 990'
}

@test "--window: samples covering the window exactly need no extrapolation" {
	run obs-rate -w 60s -s 60s < <(seq 0 10 60 | awk '{ print $1, $1 }')
	assert_output '60 1'
}

@test "--window: extrapolation to both edges, limited by the zero point" {
	# samples at 5..55 of 1,11,..,51 in [0,60]: increase 50 over 50 s; the
	# start extrapolates only to the zero point (1 s before), the end 5 s
	run obs-rate -w 60s -s 60s --increase < <(seq 5 10 55 | awk '{ print $1, $1 - 4 }')
	# 50 * (56 / 50) in binary floating point, as Prometheus computes it
	assert_output '60 56.00000000000001'
	run obs-rate -w 60s -s 60s < <(seq 5 10 55 | awk '{ print $1, $1 - 4 }')
	assert_output '60 0.9333333333333335'
}

@test "--window: a gap to the edge beyond 1.1 intervals extrapolates half an interval" {
	run obs-rate -w 1m -s 1m --increase <<<$'30 100\n40 110\n50 120\n60 130'
	assert_output '60 35'
	run obs-rate -w 1m -s 1m <<<$'30 100\n40 110\n50 120\n60 130'
	assert_output '60 0.5833333333333334'
}

@test "--window: a reset inside the window adds the value before it" {
	run obs-rate -w 40s -s 40s <<<$'0 0\n10 10\n20 20\n30 5\n40 15'
	assert_output '40 0.875'
	run obs-rate -w 40s -s 40s -i <<<$'0 0\n10 10\n20 20\n30 5\n40 15'
	assert_output '40 35'
}

@test "--window at every sample: the range is closed and needs two samples" {
	run obs-rate -w 20s -i <<<$'0 0\n10 10\n20 20\n30 30\n60 60'
	# t=10: [−10,10] holds 0,10: 10 + extrapolation to the start (zero point: 0 s)
	#       and to the end (0 s) = 10
	# t=20: 0,10,20 exactly cover [0,20] = 20 ; t=30: 10,20,30 = 20
	# t=60: only one sample in [40,60]: nothing
	assert_output $'10 10\n20 20\n30 20'
}

@test "--window --delta does not treat a decrease as a reset" {
	run obs-rate -w 40s -s 40s -d <<<$'0 100\n10 80\n20 60\n30 40\n40 20'
	assert_output '40 -80'
}

@test "--window --irate uses the last two samples in the window" {
	run obs-rate -w 1m -s 1m -I <<<$'0 0\n20 10\n40 50\n50 70'
	assert_output '60 2'
	run obs-rate -w 1m -s 1m -I <<<$'0 0\n20 10\n40 50\n50 5'
	assert_output '60 0.5'
}

@test "--step evaluates at multiples of the step, per series" {
	run obs-rate -w 30s -s 30s -i <<<$'a 0 0\nb 0 0\na 10 10\nb 10 100\na 20 20\nb 20 200\na 30 30\nb 30 300\na 40 40\na 60 60'
	assert_output $'a 30 30\na 60 30\nb 30 300'
}

@test "--step without --window and bad durations are usage errors" {
	run obs-rate -s 1m </dev/null
	assert_failure 2
	assert_output --partial '--step needs --window'
	run obs-rate -w 5x </dev/null
	assert_failure 2
	assert_output --partial "invalid duration '5x'"
}

@test "multi-series FILE: input with a reset in one of them" {
	printf '0 1\n10 2\n20 0\n' >a
	printf '0 5\n10 15\n' >b
	run bash -c 'grep . a b | obs-rate -i'
	assert_output $'a:10 1\na:20 0\nb:10 10'
}
