#!/usr/bin/env bats
# t05 — the shared "TIME VALUE" stream: time formats, series keys, bad lines,
# I/O errors; exercised through obs-rate and obs-agg.

load common

@test "epoch seconds in, epoch seconds out" {
	run obs-rate <<<$'1795236000 10\n1795236010 30\n1795236010.5 31'
	assert_success
	assert_output $'1795236010 2\n1795236010.5 2'
}

@test "RFC3339 in, RFC3339 with milliseconds out; offsets normalised to UTC" {
	run obs-rate <<<$'2026-11-21T10:00:00Z 0\n2026-11-21T12:00:10+02:00 20\n2026-11-21 10:00:20.250Z 40.5'
	assert_success
	assert_output $'2026-11-21T10:00:10.000Z 2\n2026-11-21T10:00:20.250Z 2'
}

@test "-T converts the time format" {
	run obs-rate -T epoch <<<$'2026-11-21T10:00:00Z 0\n2026-11-21T10:00:10Z 20'
	assert_output '1795255210 2'
	run obs-rate -T rfc3339 <<<$'1795255200 0\n1795255210 20'
	assert_output '2026-11-21T10:00:10.000Z 2'
	run obs-rate -T iso <<<''
	assert_failure 2
	assert_output --partial "invalid time format 'iso'"
}

@test "13-digit integers are epoch milliseconds" {
	run obs-rate <<<$'1795236000000 0\n1795236000500 1'
	assert_output '1795236000.5 2'
}

@test "grep FILE: prefixes keep series apart and are kept on output" {
	printf '2026-11-21T10:00:00Z 0\n2026-11-21T10:00:10Z 10\n2026-11-21T10:00:20Z 30\n' >a.txt
	printf '2026-11-21T10:00:00Z 100\n2026-11-21T10:00:10Z 50\n' >b.txt
	run bash -c 'grep . a.txt b.txt | obs-rate'
	assert_success
	assert_output "a.txt:2026-11-21T10:00:10.000Z 1
a.txt:2026-11-21T10:00:20.000Z 2
b.txt:2026-11-21T10:00:10.000Z 5"
}

@test "interleaved first-column keys keep series apart" {
	run obs-rate <<<$'web1 100 0\nweb2 100 0\nweb1 110 10\nweb2 110 100\nweb1 120 30'
	assert_success
	assert_output $'web1 110 1\nweb2 110 10\nweb1 120 2'
}

@test "a key with a colon inside and an epoch time" {
	run obs-rate <<<$'host:9100:100 1\nhost:9100:110 21'
	assert_output 'host:9100:110 2'
}

@test "blank lines, comments, CRLF and surrounding blanks are accepted" {
	run obs-rate <<<$'# a comment\n\n  100 1\r\n110\t 11  \n'
	assert_success
	assert_output '110 1'
}

@test "bad lines: message with file and line number, other lines kept, exit 1" {
	run obs-rate <<<$'100 1\n110 x\nbanana\n120 21\n2026-13-01T00:00:00Z 1'
	assert_failure 1
	assert_line "obs-rate: stdin:2: invalid value 'x'"
	assert_line "obs-rate: stdin:3: missing time in 'banana'"
	assert_line "obs-rate: stdin:5: invalid time '2026-13-01T00:00:00Z'"
	assert_line '120 1'
}

@test "-q skips bad lines silently but still fails" {
	run obs-rate -q <<<$'100 1\n110 x\n120 21'
	assert_failure 1
	assert_output '120 1'
}

@test "line numbers restart per file and name the file" {
	printf '100 1\n110 2\n' >good.txt
	printf '100 1\noops 2\n' >bad.txt
	run obs-rate good.txt bad.txt
	assert_failure 1
	assert_line "obs-rate: bad.txt:2: invalid time 'oops'"
}

@test "unsorted input: out-of-order and duplicate samples are reported and skipped" {
	run obs-rate <<<$'100 0\n120 20\n110 5\n120 20\n130 30'
	assert_failure 1
	assert_line "obs-rate: stdin:3: out-of-order sample '110 5'"
	assert_line "obs-rate: stdin:4: duplicate timestamp '120 20'"
	assert_line '120 1'
	assert_line '130 1'
}

@test "empty input and a single sample give no output and succeed" {
	run obs-rate </dev/null
	assert_success
	assert_output ''
	run obs-rate <<<'100 5'
	assert_success
	assert_output ''
}

@test "a missing file is an error but the other files are read" {
	printf '100 1\n110 2\n' >a.txt
	run obs-rate nosuch.txt a.txt
	assert_failure 1
	assert_line --partial 'nosuch.txt: No such file or directory'
	assert_line '110 0.1'
}

@test "a last line without a newline is read" {
	run bash -c "printf '100 1\n110 3' | obs-rate"
	assert_output '110 0.2'
}

@test "values: NaN, infinities, huge and tiny numbers round-trip" {
	run obs-agg 1s last <<<$'100 NaN\n101 +Inf\n102 -inf\n103 1.7976931348623157e308\n104 5e-324\n105 0x10\n106 -0.1'
	assert_success
	assert_output $'100 NaN\n101 +Inf\n102 -Inf\n103 1.7976931348623157e+308\n104 4.94065645841247e-324\n105 16\n106 -0.1'
}

@test "write errors are reported" {
	[ -e /dev/full ] || skip "no /dev/full"
	run bash -c 'seq 1 100000 | awk "{print \$1, \$1}" | obs-rate >/dev/full'
	assert_failure 1
	assert_output --partial 'write error'
}

@test "tools chain: rate of a counter, then per-minute average" {
	seq 0 10 170 | awk '{ print 1795255200 + $1, $1 * 3 }' >c.txt
	run bash -c 'obs-rate c.txt | obs-agg 1m avg'
	assert_success
	assert_output $'1795255200 3\n1795255260 3\n1795255320 3'
}

@test "-h prints the usage on stdout, an unknown option exits 2" {
	for t in obs-rate obs-agg obs-spark obs-alert; do
		run "$t" -h
		assert_success
		assert_output --partial "usage: $t"
		run "$t" --no-such-option
		assert_failure 2
	done
}

@test "usage matches the man page SYNOPSIS" {
	command -v mandoc >/dev/null || skip "no mandoc"
	for t in obs-rate obs-agg obs-spark obs-alert; do
		man=$(mandoc -Tascii "$BATS_TEST_DIRNAME/../../man/$t.1" | col -b |
		      sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \t\n' '   ' | sed 's/^ //;s/ $//')
		use=$("$t" -h | sed 's/^usage: //;s/^ *//' | tr -s ' \t\n' '   ' | sed 's/ $//')
		[ "$man" = "$use" ] || { echo "man: $man"; echo "use: $use"; false; }
	done
}

@test "printed values read back exactly (100000 random doubles)" {
	command -v python3 >/dev/null || skip "no python3"
	python3 - <<'PY' >in.txt
import random, struct
r = random.Random(5)
for i in range(100000):
    k = i % 4
    if k == 0:
        v = struct.unpack("d", struct.pack("Q", r.getrandbits(64)))[0]
        if v != v or v in (float("inf"), float("-inf")):
            v = 1.5
    elif k == 1:
        v = r.uniform(-1e6, 1e6)
    elif k == 2:
        v = r.randrange(1, 10**6) / r.randrange(1, 1000)
    else:
        v = r.uniform(0, 1) * 10 ** r.randrange(-20, 20)
    print(i, repr(v))
PY
	obs-agg 1s last in.txt >out.txt
	run python3 -c '
import sys
a = [float(l.split()[1]) for l in open("in.txt")]
b = [float(l.split()[1]) for l in open("out.txt")]
bad = [(x, y) for x, y in zip(a, b) if x != y]
print(len(a), len(b), len(bad), bad[:3])'
	assert_output '100000 100000 0 []'
}

@test "printed values are printf's shortest of %.15g, %.16g, %.17g (just below powers of ten too)" {
	command -v python3 >/dev/null || skip "no python3"
	python3 - <<'PY' >in.txt
import math, random, struct
r = random.Random(7)
vals = []
for e in range(-16, 16):
    x = 10.0 ** e
    vals += [math.nextafter(x, 0), x, math.nextafter(x, math.inf)]
    vals += [math.nextafter(2.0 ** (e * 3), 0), 2.0 ** (e * 3)]
for i in range(30000):
    k = i % 3
    if k == 0:
        v = struct.unpack("d", struct.pack("Q", r.getrandbits(64)))[0]
        if v != v or math.isinf(v):
            v = 0.5
    elif k == 1:
        v = r.randrange(1, 10**6) * (1 / 300)
    else:
        v = r.uniform(0, 1) * 10 ** r.randrange(-17, 17)
    vals.append(-v if r.random() < 0.5 else v)
for i, v in enumerate(vals):
    print(i, repr(v))
PY
	obs-agg 1s last in.txt >out.txt
	run python3 -c '
def ref(v):
    if v == 0:
        return "-0" if str(v).startswith("-") else "0"
    if abs(v) < 2.0 ** 53 and v == int(v):
        return str(int(v))
    for p in (15, 16):
        s = "%.*g" % (p, v)
        if float(s) == v:
            return s
    return "%.17g" % v
a = [float(l.split()[1]) for l in open("in.txt")]
b = [l.split()[1] for l in open("out.txt")]
bad = [(ref(x), y) for x, y in zip(a, b) if ref(x) != y]
print(len(a), len(b), len(bad), bad[:3])'
	assert_output --regexp '^[0-9]+ [0-9]+ 0 \[\]$'
	[ "$(wc -l <in.txt)" = "$(wc -l <out.txt)" ]
}
