#!/bin/sh
# Fuzz one libFuzzer target for $FUZZ_TIME seconds (default 15).
#   run-fuzz.sh BINARY NAME CORPUS_DIR CRASHER_DIR WORK_DIR
# New inputs go to WORK_DIR/corpus (the committed corpus is only read).
# Crashing inputs go to WORK_DIR/artifacts, or, with FUZZ_SAVE_CRASHERS=1
# (`make fuzz`), straight into CRASHER_DIR, where every later test run
# replays them.  Exits non-zero if the target crashed, leaked or hung.
set -eu
bin=$1 name=$2 corpus=$3 crashers=$4 work=$5
time=${FUZZ_TIME:-15}
mkdir -p "$work/corpus" "$work/artifacts"
if [ "${FUZZ_SAVE_CRASHERS:-0}" = 1 ]; then
	artifacts=$crashers/
else
	artifacts=$work/artifacts/
fi
# -timeout: one input may take at most 10 s; a hang is a finding too.
set +e
timeout $((time * 2 + 120)) "$bin" -max_total_time="$time" -timeout=10 -error_exitcode=1 -timeout_exitcode=1 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts" "$work/corpus" "$corpus" "$crashers" \
	>"$work/log" 2>&1
rc=$?
set -e
tail -n 12 "$work/log"
if [ $rc -ne 0 ]; then
	echo "fuzz-$name: exit status $rc; the input is in $artifacts" \
	     "(copy it into $crashers to keep it as a regression input)," \
	     "the full log in $work/log"
fi
exit $rc
