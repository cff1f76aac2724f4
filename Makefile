# thumbtack build. `make` builds build/thumbtack; `make check` installs what is missing,
# then runs unit tests, fuzz corpus replay and integration tests, and the same under
# ASan+UBSan. See README.md.

CC ?= cc
PKGS := libuv jansson openssl zlib libzmq libnghttp2
WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Werror -Wno-missing-field-initializers
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(WARN) $(CFLAGS) -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,now $(LDFLAGS)
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luv -ljansson -lssl -lcrypto -lz -lzmq -lnghttp2) -lpthread -lm

BUILD ?= build
SRCS := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_REPLAY := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

PY := /usr/bin/python3
# Free-port residue for suites run side by side (tools/check-integration.sh).
TT_PORT_SLOT ?= 0
TT_PORT_SLOTS ?= 1

.PHONY: all deps run check unit integration asan-integration fuzz-replay asan fuzz fuzz-run soak soak-asan bench bench-ws-codec bench-tls testssl profile clean lint format install uninstall
PREFIX ?= /usr/local
DESTDIR ?=


all: $(BUILD)/thumbtack $(BUILD)/thumbtack-publish

deps:
	@tools/deps.sh

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(HARDEN) -MMD -MP -c $< -o $@

$(BUILD)/libthumbtack.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/thumbtack: $(BUILD)/obj/main.o $(BUILD)/libthumbtack.a
	$(CC) $(ALL_CFLAGS) $(HARDEN) $(LDFLAGS_ALL) $^ -o $@ $(LIBS)

# The publisher tool (cli/thumbtack-publish.c): a separate small binary on the same library.
$(BUILD)/thumbtack-publish: cli/thumbtack-publish.c $(BUILD)/libthumbtack.a
	$(CC) $(ALL_CFLAGS) $(HARDEN) $(LDFLAGS_ALL) $< $(BUILD)/libthumbtack.a -o $@ $(LIBS)

# make install [PREFIX=/usr/local] [DESTDIR=]: both binaries into $(DESTDIR)$(PREFIX)/bin.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/thumbtack $(BUILD)/thumbtack-publish $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/thumbtack $(DESTDIR)$(PREFIX)/bin/thumbtack-publish

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tt_test.h $(BUILD)/libthumbtack.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS_ALL) -fPIE $< $(BUILD)/libthumbtack.a -o $@ $(LIBS)

# Fuzz targets built as plain replay binaries (fuzz/replay.c supplies main) so that
# `make check` replays each corpus with gcc; `make fuzz` builds real libFuzzer binaries.
$(BUILD)/fuzz/%: fuzz/%.c fuzz/replay.c $(BUILD)/libthumbtack.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ifuzz $(LDFLAGS_ALL) -fPIE $< fuzz/replay.c $(BUILD)/libthumbtack.a -o $@ $(LIBS)

run: deps all
	$(BUILD)/thumbtack $(ARGS)

unit: $(UNIT_BINS)
	@tools/run-unit.sh $(UNIT_BINS)

fuzz-replay: $(FUZZ_REPLAY)
	@for f in $(FUZZ_REPLAY); do n=$$(basename $$f); $$f fuzz/corpus/$${n#fuzz_} || exit 1; done

integration: $(BUILD)/thumbtack $(BUILD)/thumbtack-publish
	cd tests/integration && THUMBTACK=$(abspath $(BUILD)/thumbtack) \
	    THUMBTACK_PUBLISH=$(abspath $(BUILD)/thumbtack-publish) \
	    TT_PORT_SLOT=$(TT_PORT_SLOT) TT_PORT_SLOTS=$(TT_PORT_SLOTS) \
	    $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The whole suite: normal build, then the same under ASan+UBSan (the two integration
# passes side by side, tools/check-integration.sh); each build with a short soak.
check: deps
	$(MAKE) lint all unit fuzz-replay
	$(MAKE) BUILD=build-asan $(ASAN_FLAGS) all unit fuzz-replay
	tools/check-integration.sh
	$(MAKE) soak SOAK_SECONDS=$(CHECK_SOAK_SECONDS)
	$(MAKE) soak-asan SOAK_SECONDS=$(CHECK_SOAK_SECONDS)

ASAN_FLAGS := CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined"

asan:
	$(MAKE) BUILD=build-asan $(ASAN_FLAGS) all unit fuzz-replay
	$(MAKE) asan-integration
	$(MAKE) soak-asan SOAK_SECONDS=$(CHECK_SOAK_SECONDS)

# The integration suite against the ASan+UBSan build (slow-marked tests left out).
asan-integration:
	$(MAKE) BUILD=build-asan $(ASAN_FLAGS) PYTEST_ARGS="$(PYTEST_ARGS) -m 'not slow'" integration

# Mixed load for SOAK_SECONDS (default 10 minutes): RSS over time, fds before/after, errors;
# fails on RSS growth over 1% after warm-up, an fd leak or a sanitizer report
# (tools/soak.py). make check runs the short form (CHECK_SOAK_SECONDS) on both builds.
SOAK_SECONDS ?= 600
CHECK_SOAK_SECONDS ?= 20
soak: $(BUILD)/thumbtack
	$(PY) tools/soak.py --seconds $(SOAK_SECONDS) --thumbtack $(BUILD)/thumbtack

soak-asan:
	$(MAKE) BUILD=build-asan $(ASAN_FLAGS) all
	$(PY) tools/soak.py --seconds $(SOAK_SECONDS) --thumbtack build-asan/thumbtack

# Real libFuzzer binaries (clang, ASan+UBSan) in build-fuzz/fuzz/; see fuzz-run.
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -DPATCH_MAX_WEIGHT=65536" build-fuzz/libthumbtack.a
	@mkdir -p build-fuzz/fuzz
	for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); clang $(ALL_CFLAGS) -Ifuzz -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $$f build-fuzz/libthumbtack.a -o build-fuzz/fuzz/$$n $(LIBS) || exit 1; done

# Run every target (or FUZZ_TARGETS="h1_request grip") to FUZZ_EXECS executions each, one
# at a time, niced; summary lines in build-fuzz/fuzz-run.txt (tools/fuzz-run.sh).
FUZZ_EXECS ?= 10000000
FUZZ_TARGETS ?=
fuzz-run: fuzz
	tools/fuzz-run.sh $(FUZZ_EXECS) $(FUZZ_TARGETS)

bench: all
	bench/run.sh

# make profile SCENARIO=channels (or proxy, bc_small, bc_big, ws_big, longpoll, connrate,
# woh, zmq_bc, zmq_channels): that bench step against thumbtack alone under perf record;
# writes bench/results/<stamp>/thumbtack/perf.folded (flame-graph input: frames root
# first, ';'-separated, then a count) and perf-report.txt.
SCENARIO ?= channels
profile: all
	BENCH_SYSTEMS=backend,thumbtack BENCH_STEPS=$(SCENARIO) BENCH_PROFILE=1 bench/run.sh

# TLS and HTTP/2 side by side with nginx (bench/tls_h2.py): handshakes/s, requests/s over
# h2 and HTTP/1.1 over TLS, memory per held TLS stream and per held HTTP/2 stream.
bench-tls: all
	bench/run.sh --tls

# testssl.sh against a TLS listener: no protocol below TLS 1.2, no weak cipher (slow).
testssl: all
	tools/testssl.sh

# Cost of the WebSocket codec per frame/message (see bench/ws_codec_bench.c).
$(BUILD)/bench/ws_codec_bench: bench/ws_codec_bench.c $(BUILD)/libthumbtack.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) -fPIE $< $(BUILD)/libthumbtack.a -o $@ $(LIBS)

bench-ws-codec: $(BUILD)/bench/ws_codec_bench
	$(BUILD)/bench/ws_codec_bench

lint:
	@tools/lint.sh

format:
	clang-format -i $(SRCS) $(shell find src -name '*.h')

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
