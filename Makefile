# Thin wrapper: install missing Debian packages, configure, build, run.
# The real build is meson; see README.md for the plain meson commands.

BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
BENCH_BUILD ?= build-bench
FUZZ_BUILD ?= build-fuzz
# Seconds per fuzz target: `make fuzz` (FUZZ_TIME) and the short run of
# every target in `make test` (FUZZ_TEST_TIME).
FUZZ_TIME ?= 180
FUZZ_TEST_TIME ?= 15
MESON_TEST_ARGS ?= --print-errorlogs --num-processes 2

.PHONY: all deps build demo test test-normal test-asan test-valgrind test-tsan \
	bench abi-baseline clean fuzz test-fuzz

# The tests valgrind runs (each on every transport); the rest run under
# ASan+UBSan, which is faster.
VALGRIND_TESTS ?= loop framer selector transport core-socket core-shm \
	events-socket events-shm client-loop-socket client-loop-shm \
	faults-socket faults-shm conformance-glib-shm conformance-uv-shm \
	conformance-event-shm conformance-sdevent-shm fds-socket fds-shm \
	socket-records records-socket core-socket-stream
VALGRIND ?= valgrind -q --error-exitcode=9 --leak-check=full \
	--errors-for-leak-kinds=definite

all: build

deps:
	@scripts/deps.sh base

# The gRPC gateway is always built and tested here (deps installs what it
# needs); a plain `meson setup` builds it when gRPC is found.
$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dgrpc=enabled

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	scripts/demo.sh $(BUILD)

test: deps test-normal test-asan test-valgrind test-tsan test-fuzz

test-normal: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dgrpc=enabled

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

# libFuzzer build (docs/security.md, "Fuzzing"): clang, the library
# instrumented for coverage, ASan+UBSan.  Only the fuzz targets are built.
FUZZ_CLANG := $(shell command -v clang 2>/dev/null)
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dexamples=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dgrpc=disabled \
		-Dc_args=-fsanitize=fuzzer-no-link

FUZZ_ENV = ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Each target for FUZZ_TIME seconds, two at a time; crashing inputs are
# saved in tests/fuzz/crashers/<target>/, new inputs in
# $(FUZZ_BUILD)/tests/fuzz/fuzz-work/<target>/corpus.
fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $$(ninja -C $(FUZZ_BUILD) -t targets all | \
		sed -n 's|^\(tests/fuzz/fuzz-[a-z-]*\): .*|\1|p' | sort -u)
	$(FUZZ_ENV) FUZZ_TIME=$(FUZZ_TIME) FUZZ_SAVE_CRASHERS=1 \
	meson test -C $(FUZZ_BUILD) --no-rebuild --suite fuzz-run \
		--print-errorlogs --num-processes 2

# The short run of `make test`: skipped without clang's libFuzzer.
test-fuzz:
	@if [ -z "$(FUZZ_CLANG)" ] || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
		clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
		echo "test-fuzz: no clang with -fsanitize=fuzzer, skipped"; \
	else \
		$(MAKE) --no-print-directory fuzz-short; \
	fi

fuzz-short: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $$(ninja -C $(FUZZ_BUILD) -t targets all | \
		sed -n 's|^\(tests/fuzz/fuzz-[a-z-]*\): .*|\1|p' | sort -u)
	$(FUZZ_ENV) FUZZ_TIME=$(FUZZ_TEST_TIME) \
	meson test -C $(FUZZ_BUILD) --no-rebuild --suite fuzz-run \
		--print-errorlogs --num-processes 2

# ThreadSanitizer on the thread tests only (tests/integration/test-threads.c,
# suite threads): only what they need is built, and nothing else runs.
$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false \
		-Dexamples=false -Dgrpc=disabled

test-tsan: $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) tests/integration/test-threads
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	meson test -C $(TSAN_BUILD) $(MESON_TEST_ARGS) --no-rebuild \
		--suite threads

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
	ninja -C $(BENCH_BUILD) tests/bench/lrpc-bench tests/bench/lrpc-floor
	$(BENCH_BUILD)/tests/bench/lrpc-bench --json $(BENCH_BUILD)/bench.json $(BENCH_ARGS)
	@echo
	$(BENCH_BUILD)/tests/bench/lrpc-floor
	@# The gRPC gateway beside plain gRPC (docs/remote.md), when built.
	@if ninja -C $(BENCH_BUILD) -t query tests/grpc/grpc-bench >/dev/null 2>&1; then \
		ninja -C $(BENCH_BUILD) tests/grpc/grpc-bench examples/kv/kv-server \
			examples/kv/kv-grpc-gateway && \
		scripts/grpc-bench.sh $(BENCH_BUILD); \
	else \
		echo "bench: no gRPC in $(BENCH_BUILD), the gateway rows skipped"; \
	fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
