# helper.bash — shared setup for the bats suites that run against a real
# obsfsd mount. Each test gets its own data directory and mount point under
# a fresh temporary directory; teardown unmounts, waits for the daemon to
# exit (kill -9 as a last resort) and removes everything.
#
#   load helper
#   setup()    { obs_setup; }            # mounts with default options
#   setup()    { obs_setup -o time=epoch; }
#   teardown() { obs_teardown; }
#
# Variables: T (temp dir), DATA, MNT, OBS_PID (the daemon's pid).

OBSFSD=${OBS_BUILD:+$OBS_BUILD/bin/}obsfsd

# The pid of the daemon serving $DATA: obsfsd writes it into DATA/LOCK.
obs_lock_pid() {
	local pid
	pid=$(cat "$DATA/LOCK" 2>/dev/null) || return 1
	[ -n "$pid" ] && echo "$pid"
}

# obs_start [obsfsd options...]: mount $DATA on $MNT (the daemon forks and
# returns once mounted) and wait until the kernel shows the mount.
obs_start() {
	mkdir -p "$DATA" "$MNT"
	# a crash leaves a core in the daemon's cwd ($T) for the report
	if ! (cd "$T" && ulimit -c unlimited 2>/dev/null; exec "$OBSFSD" "$@" "$DATA" "$MNT") 2>"$T/start.err"; then
		echo "obsfsd failed to start:" >&2
		cat "$T/start.err" >&2
		return 1
	fi
	local i
	for i in $(seq 100); do
		mountpoint -q "$MNT" && break
		sleep 0.05
	done
	mountpoint -q "$MNT" || { echo "no mount at $MNT" >&2; return 1; }
	OBS_PID=$(obs_lock_pid)
	[ -n "$OBS_PID" ] && obs_alive "$OBS_PID"
}

# Is pid a live process? A daemon is reparented to init, which may reap it
# late: a zombie (state Z) counts as gone.
obs_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait (up to ~5 s, or $2 tries of 20 ms) for a pid to be gone
obs_wait_gone() {
	local pid=$1 i
	for i in $(seq "${2:-250}"); do
		obs_alive "$pid" || return 0
		sleep 0.02
	done
	return 1
}

# Clean unmount; the daemon must then exit by itself.
obs_stop() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "${OBS_PID:-}" ]; then
		# a clean exit flushes the heads: give a loaded machine 30 s
		if ! obs_wait_gone "$OBS_PID" 1500; then
			kill -9 "$OBS_PID" 2>/dev/null
			obs_wait_gone "$OBS_PID"
			OBS_PID=
			return 1
		fi
	fi
	OBS_PID=
	return 0
}

# kill -9 the daemon and clear the dead mount (the data dir stays).
obs_crash() {
	kill -9 "$OBS_PID"
	# a sanitizer build takes seconds to unmap its shadow memory and let
	# go of the data directory's lock (its main thread can show as a zombie
	# while the others still exit): wait for the lock itself
	obs_wait_gone "$OBS_PID" 1500
	local w
	for w in $(seq 300); do
		flock -n "$DATA/LOCK" true 2>/dev/null && break
		sleep 0.1
	done
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	local i
	for i in $(seq 50); do
		mountpoint -q "$MNT" 2>/dev/null || break
		sleep 0.05
	done
	OBS_PID=
}

# Unmount cleanly and mount again on the same data directory.
obs_remount() {
	obs_stop && obs_start "$@"
}

obs_setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/obsfs.XXXXXX")
	DATA=$T/data
	MNT=$T/mnt
	OBS_PID=
	obs_start "$@"
}

obs_teardown() {
	[ -n "${T:-}" ] || return 0
	local rc=0
	if [ -n "${OBS_PID:-}" ] && ! obs_alive "$OBS_PID"; then
		echo "obsfsd (pid $OBS_PID) died during the test" >&2
		if ls "$T"/core* >/dev/null 2>&1; then
			mkdir -p "${BATS_TMPDIR:-/tmp}/obsfs-cores"
			cp "$T"/core* "${BATS_TMPDIR:-/tmp}/obsfs-cores/" 2>/dev/null
			echo "core kept in ${BATS_TMPDIR:-/tmp}/obsfs-cores" >&2
		fi
		rc=1
	fi
	obs_stop || rc=1
	# a mount left behind would make rm -rf walk into it
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -uz "$MNT"
	[ -e "$MNT" ] && ! ls "$MNT" >/dev/null 2>&1 && fusermount3 -uz "$MNT" 2>/dev/null
	rm -rf "$T"
	return $rc
}

# ---- assertions --------------------------------------------------------------

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds; then
# once more with its errors shown, and its status
wait_for() {
	local n=$(($1 * 5)) i
	shift
	for i in $(seq "$n"); do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "timed out waiting for: $*" >&2
	"$@"
}

# expect_eq ACTUAL EXPECTED: exact comparison, prints a diff on failure.
expect_eq() {
	if [ "$1" != "$2" ]; then
		echo "expected:" >&2
		printf '%s\n' "$2" | sed 's/^/  |/' >&2
		echo "got:" >&2
		printf '%s\n' "$1" | sed 's/^/  |/' >&2
		return 1
	fi
}

# expect_file_eq FILE EXPECTED: the file's content equals EXPECTED.
expect_file_eq() {
	local got
	got=$(cat "$1") || return 1
	expect_eq "$got" "$2"
}

# expect_fail MESSAGE: the command of the last `run` failed, and its output
# holds MESSAGE (a strerror text such as "No such file or directory" or the
# daemon's own message): a failure for another reason does not pass.
expect_fail() {
	if [ "$status" -eq 0 ]; then
		echo "expected a failure with '$1', the command succeeded: $output" >&2
		return 1
	fi
	if [[ "$output" != *"$1"* ]]; then
		echo "expected a failure with '$1', got (exit $status):" >&2
		printf '%s\n' "$output" | sed 's/^/  |/' >&2
		return 1
	fi
}

# obs_read_growth FILE OUT: cat FILE >OUT, and set GROWTH_KB to how far
# the daemon's resident memory peaked above what it was before (kB); both
# are printed to fd 3 (bats shows them). Fails when the cat fails.
obs_read_growth() {
	local before peak
	before=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$OBS_PID/status")
	echo 5 >"/proc/$OBS_PID/clear_refs"   # VmHWM := VmRSS
	cat "$1" >"$2" || return 1
	peak=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$OBS_PID/status")
	GROWTH_KB=$((peak - before))
	echo "# ${1#"$MNT/"}: daemon rss ${before} kB before, peak ${peak} kB while reading (+${GROWTH_KB} kB)" >&3
}

# slurp FILE: print FILE's content; unlike a bare $(cat FILE) the read error
# is not lost when used as its own assignment: `got=$(slurp F)` fails the
# test (errexit) when FILE cannot be read.
slurp() {
	local got
	got=$(cat "$1") || { echo "cannot read $1" >&2; return 1; }
	printf '%s\n' "$got"
}

# nlines FILE: the number of lines of FILE, failing when it cannot be read
# (use as its own assignment: `n=$(nlines F)`).
nlines() {
	local got
	got=$(cat "$1") || { echo "cannot read $1" >&2; return 1; }
	if [ -z "$got" ]; then echo 0; else printf '%s\n' "$got" | wc -l; fi
}

# expect_lines FILE N: FILE reads without error and has N lines.
expect_lines() {
	local n
	n=$(nlines "$1") || return 1
	expect_eq "$n" "$2"
}

# expect_same FILE_A FILE_B: both read without error and have the same text.
expect_same() {
	local a b
	a=$(cat "$1") || { echo "cannot read $1" >&2; return 1; }
	b=$(cat "$2") || { echo "cannot read $2" >&2; return 1; }
	expect_eq "$a" "$b"
}

# expect_empty_dir DIR: DIR lists without error and holds nothing (a bare
# $(ls DIR) is empty when ls fails, too).
expect_empty_dir() {
	local got
	got=$(ls -A "$1") || { echo "cannot list $1" >&2; return 1; }
	expect_eq "$got" ""
}

# expect_grep PATTERN FILE...: grep -E must match.
expect_grep() {
	if ! grep -qE -- "$1" "${@:2}"; then
		echo "no line matching '$1' in ${*:2}:" >&2
		cat "${@:2}" | head -40 | sed 's/^/  |/' >&2
		return 1
	fi
}

# ---- time --------------------------------------------------------------------

# rfc3339 EPOCH_SECONDS: the daemon's default TIME form (UTC, milliseconds).
rfc3339() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000Z
}

# an epoch second aligned down to a multiple of $2 seconds, $1 seconds ago
aligned_ago() {
	local now
	now=$(date +%s)
	echo $(((now - $1) / $2 * $2))
}

# python helper for what the shell cannot do (exact errno of one write()).
# py_write PATH DATA-as-python-bytes-literal: prints "ok N" or the errno name.
py_write() {
	python3 - "$1" "$2" <<'EOF'
import ast, errno, os, sys
path, data = sys.argv[1], ast.literal_eval(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
try:
    n = os.write(fd, data)
    print("ok", n)
except OSError as e:
    print(errno.errorcode[e.errno])
finally:
    try:
        os.close(fd)
    except OSError as e:
        print("close", errno.errorcode[e.errno])
EOF
}

# not_mounted DIR: fails when DIR is a mount point (`! cmd` does not fail a
# bats test, so negations need this form).
not_mounted() {
	if mountpoint -q "$1"; then
		echo "$1 is still mounted" >&2
		return 1
	fi
}
