#!/usr/bin/env bash
# Builds alknet twice, normally and with ASan+UBSan, and runs the whole
# ctest suite (unit and integration tests) in each tree.  Exits non-zero
# if a build or a test failed; the last line sums up both runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/setup.sh"

passed=0
failed=0
status=0

# run_tree DIR [BUILD-FLAG]: builds one tree and runs its tests, adding
# to the counters.  A failed build counts as one failure.
run_tree() {
	local dir=$1 flag=${2:-} log
	log=$(mktemp)

	echo "== build $dir"
	if ! "$root/scripts/build.sh" $flag; then
		echo "== build $dir FAILED"
		failed=$((failed + 1))
		status=1
		rm -f "$log"
		return
	fi

	echo "== test $dir"
	if ! ctest --test-dir "$root/$dir" --output-on-failure -j2 \
	    2>&1 | tee "$log"; then
		status=1
	fi

	# ctest ends with "NN% tests passed, F tests failed out of T".
	local line total nfail
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" |
	    tail -n 1 || true)
	if [[ -z "$line" ]]; then
		echo "== test $dir: no ctest summary"
		failed=$((failed + 1))
		status=1
	else
		nfail=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
		total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
		passed=$((passed + total - nfail))
		failed=$((failed + nfail))
		((nfail == 0)) || status=1
	fi
	rm -f "$log"
}

run_tree build

# halt_on_error makes the first report fatal; leaks fail the process.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_tree build-asan --asan

echo "test.sh: $passed passed, $failed failed"
exit "$status"
