#!/usr/bin/env bats
# t40-select — select/ matcher directories (=, !=, =~, !~ and their
# intersections), labels/, '/' and '%' escaping in file names, the NAME_MAX
# alias of very long series names and the user.obs.series xattr.

load helper

setup() {
	obs_setup
	cat >"$MNT/ingest" <<'EOF'
fs_avail{mountpoint="/",device="sda1",job="node"} 100
fs_avail{mountpoint="/home",device="sda2",job="node"} 200
fs_avail{mountpoint="/boot",device="sdb1",job="node"} 300
http_req{handler="/metrics",code="200",job="prom"} 5
http_req{handler="/api",code="500",job="prom"} 6
up{job="node"} 1
up{job="prom"} 1
pct{v="50%"} 1
EOF
}
teardown() { obs_teardown; }

# sel PATH: the listing of select/PATH, one name per line
sel() { ls "$MNT/select/$1"; }

getxattr() {
	python3 -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], "user.obs.series").decode())' "$1"
}

@test "file names escape '/' as %2F and '%' as %25" {
	expect_eq "$(ls "$MNT/metrics")" 'fs_avail{device="sda1",job="node",mountpoint="%2F"}
fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}
fs_avail{device="sdb1",job="node",mountpoint="%2Fboot"}
http_req{code="200",handler="%2Fmetrics",job="prom"}
http_req{code="500",handler="%2Fapi",job="prom"}
pct{v="50%25"}
up{job="node"}
up{job="prom"}'
	# read back through the escaped name; the xattr holds the real text
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/fs_avail{device=\"sda1\",job=\"node\",mountpoint=\"%2F\"}")" 100
	expect_eq "$(getxattr "$MNT/metrics/fs_avail{device=\"sda1\",job=\"node\",mountpoint=\"%2F\"}")" \
		'fs_avail{device="sda1",job="node",mountpoint="/"}'
	expect_eq "$(getxattr "$MNT/metrics/pct{v=\"50%25\"}")" 'pct{v="50%"}'
	# writing to an escaped name appends to the same series
	echo 7 >>"$MNT/metrics/http_req{code=\"200\",handler=\"%2Fmetrics\",job=\"prom\"}"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/http_req{code=\"200\",handler=\"%2Fmetrics\",job=\"prom\"}")" "$(printf '5\n7')"
	expect_eq "$(ls "$MNT/metrics" | wc -l)" 8
}

@test "creating a series file with %2F in its name stores the real '/'" {
	echo 3 >"$MNT/metrics/disk{path=\"%2Fvar%2Flog\"}"
	expect_eq "$(getxattr "$MNT/metrics/disk{path=\"%2Fvar%2Flog\"}")" 'disk{path="/var/log"}'
	expect_eq "$(ls "$MNT/labels/path")" "%2Fvar%2Flog"
	expect_eq "$(sel 'path=%2Fvar%2Flog')" 'disk{path="%2Fvar%2Flog"}'
	# the same series through ingest, with the real value
	echo "disk{path=\"/var/log\"} 4 $(($(date +%s) + 1))000" >"$MNT/ingest"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/disk{path=\"%2Fvar%2Flog\"}")" "$(printf '3\n4')"
}

@test "select with = lists exactly the matching series" {
	expect_eq "$(sel job=prom)" 'http_req{code="200",handler="%2Fmetrics",job="prom"}
http_req{code="500",handler="%2Fapi",job="prom"}
up{job="prom"}'
	expect_eq "$(sel __name__=up)" 'up{job="node"}
up{job="prom"}'
	expect_eq "$(sel mountpoint=%2F)" 'fs_avail{device="sda1",job="node",mountpoint="%2F"}'
	expect_eq "$(sel v=50%25)" 'pct{v="50%25"}'
	expect_empty_dir "$MNT/select/job=nosuch"
}

@test "select with != also matches series without the label (Prometheus rules)" {
	expect_eq "$(sel job!=node)" 'http_req{code="200",handler="%2Fmetrics",job="prom"}
http_req{code="500",handler="%2Fapi",job="prom"}
pct{v="50%25"}
up{job="prom"}'
	expect_eq "$(sel mountpoint!=%2F | wc -l)" 7
	# k="" matches series without k
	expect_eq "$(sel job=)" 'pct{v="50%25"}'
}

@test "select with =~ and !~ is anchored" {
	expect_empty_dir "$MNT/select/device=~sd"
	expect_eq "$(sel 'device=~sda.*')" 'fs_avail{device="sda1",job="node",mountpoint="%2F"}
fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}'
	expect_eq "$(sel 'device=~sda1|sdb1' | wc -l)" 2
	expect_eq "$(sel 'code=~5..')" 'http_req{code="500",handler="%2Fapi",job="prom"}'
	expect_eq "$(sel 'mountpoint=~%2F.+')" 'fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}
fs_avail{device="sdb1",job="node",mountpoint="%2Fboot"}'
	# !~ keeps series without the label
	expect_eq "$(sel 'job!~n.*')" 'http_req{code="200",handler="%2Fmetrics",job="prom"}
http_req{code="500",handler="%2Fapi",job="prom"}
pct{v="50%25"}
up{job="prom"}'
}

@test "select intersects every path component" {
	expect_eq "$(sel __name__=fs_avail/device!=sda1)" 'fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}
fs_avail{device="sdb1",job="node",mountpoint="%2Fboot"}'
	expect_eq "$(sel 'job=node/__name__!=up/device=~sd[ab]2|sdb.')" 'fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}
fs_avail{device="sdb1",job="node",mountpoint="%2Fboot"}'
	expect_eq "$(sel 'job=node/__name__!=up/device=~sd[ab]2|sdb./mountpoint!~%2Fb.*')" \
		'fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}'
	expect_empty_dir "$MNT/select/job=node/job=prom"
	# the same set in any component order
	expect_eq "$(sel device!=sda1/__name__=fs_avail)" "$(sel __name__=fs_avail/device!=sda1)"
}

@test "series files are readable under select/, only when they match" {
	expect_eq "$(cut -d' ' -f2 "$MNT/select/job=prom/code=500/http_req{code=\"500\",handler=\"%2Fapi\",job=\"prom\"}")" 6
	expect_lines "$MNT/select/job=node/up{job=\"node\"}" 1
	run cat "$MNT/select/job=prom/up{job=\"node\"}"
	expect_fail "No such file or directory"
	[[ "$output" == *"No such file"* ]]
}

@test "a matcher that does not parse is ENOENT, not a crash" {
	run ls "$MNT/select/job=~("
	expect_fail "No such file or directory"
	[[ "$output" == *"No such file"* ]]
	run ls "$MNT/select/job=~[z-a]"
	expect_fail "No such file or directory"
	run ls "$MNT/select/nosuchseries"
	expect_fail "No such file or directory"
	# still serving
	expect_eq "$(sel job=node | wc -l)" 4
}

@test "labels/ lists names, labels/K values, labels/K/V the series" {
	expect_eq "$(ls "$MNT/labels")" '__name__
code
device
handler
job
mountpoint
v'
	expect_eq "$(ls "$MNT/labels/job")" 'node
prom'
	expect_eq "$(ls "$MNT/labels/__name__")" 'fs_avail
http_req
pct
up'
	expect_eq "$(ls "$MNT/labels/mountpoint")" '%2F
%2Fboot
%2Fhome'
	expect_eq "$(ls "$MNT/labels/handler")" '%2Fapi
%2Fmetrics'
	expect_eq "$(ls "$MNT/labels/mountpoint/%2Fhome")" 'fs_avail{device="sda2",job="node",mountpoint="%2Fhome"}'
	expect_eq "$(ls "$MNT/labels/job/prom")" "$(sel job=prom)"
	expect_eq "$(cut -d' ' -f2 "$MNT/labels/mountpoint/%2Fboot/fs_avail{device=\"sdb1\",job=\"node\",mountpoint=\"%2Fboot\"}")" 300
	run ls "$MNT/labels/nosuch"
	# a label name nobody uses is an empty directory or ENOENT, never an error listing
	if [ "$status" -eq 0 ]; then expect_eq "$output" ""; else expect_fail "No such file or directory"; fi
	run ls "$MNT/labels/job/nosuch"
	expect_fail "No such file or directory"
}

@test "a series name longer than NAME_MAX is listed under a stable alias" {
	long=$(printf 'x%.0s' $(seq 300))
	echo "long_metric{a=\"$long\"} 1 $(($(date +%s) - 10))000" >"$MNT/ingest"
	alias=$(ls "$MNT/metrics" | grep '^long_metric')
	[ "${#alias}" -le 255 ]
	[[ "$alias" =~ ^long_metric\{a=\"x+~[0-9a-f]{16}$ ]]
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/$alias")" 1
	expect_eq "$(getxattr "$MNT/metrics/$alias")" "long_metric{a=\"$long\"}"
	python3 -c 'import os, sys; assert "user.obs.series" in os.listxattr(sys.argv[1])' "$MNT/metrics/$alias"
	# writes through the alias go to the same series
	echo 2 >>"$MNT/metrics/$alias"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/$alias")" "$(printf '1\n2')"
	# select/ lists the alias too, and it reads there
	expect_eq "$(sel __name__=long_metric)" "$alias"
	expect_eq "$(wc -l <"$MNT/select/__name__=long_metric/$alias")" 2
	# views work on the alias
	# (the two samples are seconds apart but may straddle an hour boundary)
	v=$(slurp "$MNT/metrics/$alias@-1h:1h:sum")
	expect_eq "$(awk '{s += $2} END {print s}' <<<"$v")" 3
	# the same alias after a remount
	obs_remount
	expect_eq "$(ls "$MNT/metrics" | grep '^long_metric')" "$alias"
	expect_eq "$(wc -l <"$MNT/metrics/$alias")" 2
}

@test "a long bare metric name created through its file also gets an alias" {
	long=m$(printf 'm%.0s' $(seq 299))
	echo 5 >"$MNT/metrics/$long"
	alias=$(ls "$MNT/metrics" | grep '^mmm')
	[ "${#alias}" -le 255 ]
	[[ "$alias" == *~* ]]
	expect_eq "$(getxattr "$MNT/metrics/$alias")" "$long"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/$alias")" 5
	# the full name still opens the same series
	expect_same "$MNT/metrics/$long" "$MNT/metrics/$alias"
}

@test "label values longer than NAME_MAX are still listed under labels/K" {
	long=$(printf 'y%.0s' $(seq 300))
	echo "lv_metric{a=\"$long\"} 1" >"$MNT/ingest"
	run ls "$MNT/labels/a"
	[ "$status" -eq 0 ]
	[ -n "$output" ] || { echo "labels/a/ omits a value longer than NAME_MAX (no alias, silently missing)" >&2; false; }
	[ "${#output}" -le 255 ]
}

@test "label values with '@', '}', UTF-8; empty values drop the label; spaced label sets" {
	now=$(date +%s)
	printf '%s\n' "at_metric{email=\"a@b\"} 1 ${now}000" "brace{a=\"}@-1h\"} 2 ${now}000" \
		"uni{city=\"Zürich\"} 3 ${now}000" "emp{a=\"\",b=\"x\"} 4 ${now}000" \
		"sp{ b = \"2\" , a=\"1\" } 5 ${now}000" >"$MNT/ingest"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/at_metric{email=\"a@b\"}")" 1
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/at_metric{email=\"a@b\"}@-1h")" 1
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/brace{a=\"}@-1h\"}")" 2
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/brace{a=\"}@-1h\"}@-1h:1h:count")" 1
	expect_eq "$(sel city=Zürich)" 'uni{city="Zürich"}'
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/emp{b=\"x\"}")" 4
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/sp{a=\"1\",b=\"2\"}")" 5
	# a spaced, unordered name opens the same series
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/sp{b=\"2\", a=\"1\"}")" 5
	expect_file_eq "$MNT/errors" ""
}
