# Thin wrapper: install missing Debian packages, configure, build, run.
# The real build is meson; see README.md for the plain meson commands.

BUILD ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
MESON_TEST_ARGS ?= --print-errorlogs --num-processes 2

.PHONY: all deps build demo test test-normal test-asan test-valgrind bench \
	abi-baseline clean

# The tests valgrind runs (each on every transport); the rest run under
# ASan+UBSan, which is faster.
VALGRIND_TESTS ?= loop framer selector transport core-socket core-shm \
	events-socket events-shm client-loop-socket client-loop-shm
VALGRIND ?= valgrind -q --error-exitcode=9 --leak-check=full \
	--errors-for-leak-kinds=definite

all: build

deps:
	@scripts/deps.sh base

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	scripts/demo.sh $(BUILD)

test: deps test-normal test-asan test-valgrind

test-normal: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

test-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C $(ASAN_BUILD) $(MESON_TEST_ARGS) --no-suite codegen \
		--no-suite abi

test-valgrind: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) $(MESON_TEST_ARGS) --timeout-multiplier 4 \
		--wrapper '$(VALGRIND)' $(VALGRIND_TESTS)

# Record the ABI of $(BUILD)'s liblrpc.so as the baseline the abi test
# compares later builds with (README.md, "Versions and ABI").
abi-baseline: build
	python3 tests/abi/check-abi.py dump $(BUILD)/runtime/liblrpc.so \
		include/lrpc tests/abi/liblrpc.abi

# Optimized build, then lrpc against libqb (installed by deps.sh bench) in
# one run; see docs/benchmarks.md.  BENCH_ARGS adds options (e.g. --pin).
BENCH_ARGS ?=
bench:
	@scripts/deps.sh bench
	@if [ -f $(BENCH_BUILD)/build.ninja ]; then \
		meson setup --reconfigure $(BENCH_BUILD) --buildtype=release \
			-Db_ndebug=true -Dtests=true; \
	else \
		meson setup $(BENCH_BUILD) --buildtype=release \
			-Db_ndebug=true -Dtests=true; \
	fi
	ninja -C $(BENCH_BUILD) tests/bench/lrpc-bench
	$(BENCH_BUILD)/tests/bench/lrpc-bench --json $(BENCH_BUILD)/bench.json $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
