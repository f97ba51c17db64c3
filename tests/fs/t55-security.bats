#!/usr/bin/env bats
# t55-security — with -o allow_other another local user may read what the
# modes allow and change nothing: writing ingest, ctl or a series, creating
# a series or a stream and removing a stream are EACCES (obsfsd(8),
# PERMISSIONS). Needs root (to become nobody with setpriv).

load helper

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to act as another user"
	command -v setpriv >/dev/null || skip "needs setpriv"
	obs_setup -o allow_other
	chmod 755 "$T"   # let the other user reach the mount point
	NOW=$(date +%s)
	echo "$NOW 1" >"$MNT/metrics/mine"
	echo "up{job=\"a\"} 1 ${NOW}000" >"$MNT/ingest"
	echo "line one" >>"$MNT/logs/app"   # the stream is created by the owner
}
teardown() { obs_teardown; }

# as_nobody OP PATH: one os call as uid/gid 65534; prints "ok" or the errno name
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$@" <<'EOF'
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
def write(p, data, flags=os.O_WRONLY):
    fd = os.open(p, flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
calls = {
    "read": lambda: open(path, "rb").read(),
    "list": lambda: os.listdir(path),
    "ingest": lambda: write(path, b"intruder 1\n"),
    "append": lambda: write(path, b"666\n", os.O_WRONLY | os.O_APPEND),
    "ctl": lambda: write(path, b"compact\n"),
    "create": lambda: write(path, b"1\n", os.O_WRONLY | os.O_CREAT),
    "rm": lambda: os.unlink(path),
    "truncate": lambda: os.truncate(path, 0),
}
try:
    calls[op]()
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
EOF
}

@test "another user can read series, logs and the generated files" {
	expect_eq "$(as_nobody read "$MNT/metrics/mine")" ok
	expect_eq "$(as_nobody read "$MNT/logs/app")" ok
	expect_eq "$(as_nobody read "$MNT/README")" ok
	expect_eq "$(as_nobody read "$MNT/status")" ok
	expect_eq "$(as_nobody list "$MNT/metrics")" ok
	expect_eq "$(as_nobody list "$MNT/select/job=a")" ok
}

@test "another user gets EACCES writing ingest, ctl, a series or a stream" {
	expect_eq "$(as_nobody ingest "$MNT/ingest")" EACCES
	expect_eq "$(as_nobody append "$MNT/metrics/mine")" EACCES
	expect_eq "$(as_nobody append "$MNT/logs/app")" EACCES
	expect_eq "$(as_nobody ctl "$MNT/ctl")" EACCES
	expect_eq "$(as_nobody truncate "$MNT/metrics/mine")" EACCES
	# nothing of it arrived
	expect_eq "$(ls "$MNT/metrics")" 'mine
up{job="a"}'
	expect_eq "$(wc -l <"$MNT/metrics/mine")" 1
	expect_eq "$(wc -l <"$MNT/logs/app")" 1
}

@test "another user gets EACCES creating a series or a stream and removing a stream" {
	expect_eq "$(as_nobody create "$MNT/metrics/theirs")" EACCES
	expect_eq "$(as_nobody create "$MNT/logs/theirs")" EACCES
	expect_eq "$(as_nobody rm "$MNT/logs/app")" EACCES
	expect_eq "$(ls "$MNT/logs")" app
	expect_eq "$(ls "$MNT/metrics")" 'mine
up{job="a"}'
	expect_grep 'line one' "$MNT/logs/app"
}

@test "the owner still writes everything with allow_other" {
	echo 2 >>"$MNT/metrics/mine"
	expect_eq "$(wc -l <"$MNT/metrics/mine")" 2
	echo compact >"$MNT/ctl"
	echo "line two" >>"$MNT/logs/app"
	expect_eq "$(wc -l <"$MNT/logs/app")" 2
}
