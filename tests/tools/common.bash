# common.bash — shared set-up for the pipeline tool suites (tests/tools/t*.bats).
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

: "${OBS_BUILD:=$BATS_TEST_DIRNAME/../../build}"
PATH="$OBS_BUILD/bin:$PATH"

setup() {
	T=$(mktemp -d)
	cd "$T" || return 1
}

teardown() {
	cd /
	rm -rf "$T"
}
