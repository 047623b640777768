# agentkeys: the one entry point for building and testing. CI runs `make test` (via .ci/run).
#
#   make run     start the registration server on ./agentkeys-data (port 1515)
#   make test    everything: format, lints, Rust tests, no_std builds, docs, C tests
#   make install install the C library (PREFIX=/usr/local, DESTDIR for staging)
#
# Each part can be run alone: fmt-check, lint, test-rust, nostd, doc, test-c, valgrind,
# test-c-install; `make header` / `make c-vectors` refresh the generated C files.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOGS := target/test-logs
NOSTD_TARGET := thumbv7em-none-eabihf

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

VENV := .venv
VPY := $(CURDIR)/$(VENV)/bin

C_TESTS := validate keys request reply keypoll crypto wazuh5
C_FLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Itests/c
C_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
C_LIBS := -lpthread -ldl -lm -lrt -lutil
C_OUT := target/c-tests

.PHONY: kill-test fuzz-ci wheel-manylinux test-wheel deny install-bin install-lib test-install-bin
.PHONY: run test fmt-check lint test-rust nostd doc bench header c-vectors test-c valgrind install test-c-install \
	venv wheel test-python bench-python fuzz

run:
	$(CARGO) run --release -p agentkeys-server -- serve

test: fmt-check lint deny wheel test-rust nostd doc test-c valgrind test-c-install test-install-bin test-python test-wheel fuzz-ci
	@echo "make test: all checks passed"
	@cat $(LOGS)/*.log | awk '/^test result:/ { p += $$4; f += $$6 } /^[a-z_]+: [0-9]+ passed, [0-9]+ failed$$/ { p += $$2; f += $$4 } \
	  /^=+ .* in [0-9.]+s/ { for (i = 2; i <= NF; i++) { if ($$i ~ /^passed,?$$/) p += $$(i-1); if ($$i ~ /^failed,?$$/) f += $$(i-1) } } END { printf "all suites: %d passed, %d failed\n", p, f }'

fmt-check:
	$(CARGO) fmt --all -- --check

# Licences, bans and sources of every dependency (deny.toml); cargo-deny is installed from
# crates.io the first time.
deny:
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny@0.20.2
	$(CARGO) deny check licenses bans sources

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p agentkeys --no-default-features -- -D warnings
	$(CARGO) clippy -p agentkeys --no-default-features --features alloc -- -D warnings

test-rust:
	@mkdir -p $(LOGS)
	AGENTKEYS_PYTHON=$(VPY)/python $(CARGO) test --workspace 2>&1 | tee $(LOGS)/rust.log
	# Local time (agents-timestamp) in zones with daylight saving and an odd offset.
	for zone in Europe/Berlin America/New_York Asia/Kolkata; do \
	  TZ=$$zone $(CARGO) test -q -p agentkeys-server --bin agentkeys localtime 2>&1 | tee -a $(LOGS)/rust.log || exit 1; \
	done

# Proof that core is no_std: build it for a bare-metal target, with and without `alloc`.
nostd:
	@rustup target list --installed | grep -qx $(NOSTD_TARGET) || rustup target add $(NOSTD_TARGET)
	$(CARGO) build -p agentkeys --no-default-features --target $(NOSTD_TARGET)
	$(CARGO) build -p agentkeys --no-default-features --features alloc --target $(NOSTD_TARGET)

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p agentkeys --no-deps

bench:
	$(CARGO) bench -p agentkeys --bench parse

# Regenerate the committed C header / C test vectors after changing ffi/src or the shared vectors.
header:
	AGENTKEYS_UPDATE_HEADER=1 $(CARGO) test -p agentkeys-ffi --test header

c-vectors:
	AGENTKEYS_UPDATE_VECTORS=1 $(CARGO) test -p agentkeys-ffi --test c_vectors

# C programs against the header and the static library, under AddressSanitizer and UBSan.
test-c:
	@mkdir -p $(C_OUT) $(LOGS)
	$(CARGO) build -p agentkeys-ffi
	@: > $(LOGS)/c.log
	@for t in $(C_TESTS); do \
	  cc $(C_FLAGS) $(C_SAN) tests/c/test_$$t.c target/debug/libagentkeys.a $(C_LIBS) -o $(C_OUT)/test_$$t && \
	  $(C_OUT)/test_$$t | tee -a $(LOGS)/c.log || exit 1; \
	done

# The same C programs, unsanitized, under valgrind: any error fails the run.
valgrind:
	@mkdir -p $(C_OUT)
	$(CARGO) build -p agentkeys-ffi
	@for t in $(C_TESTS); do \
	  cc $(C_FLAGS) tests/c/test_$$t.c target/debug/libagentkeys.a $(C_LIBS) -o $(C_OUT)/test_$${t}_plain && \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    $(C_OUT)/test_$${t}_plain > $(C_OUT)/valgrind_$$t.txt 2>&1 || { cat $(C_OUT)/valgrind_$$t.txt; exit 1; }; \
	  echo "valgrind clean: test_$$t"; \
	done

# Everything: the `agentkeys` binary with its manual page and shell completions, and the C library.
install: install-bin install-lib

# The binary (release build, stripped), `man agentkeys`, and completions for bash, zsh and fish.
install-bin:
	$(CARGO) build --release -p agentkeys-server
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/bash-completion/completions \
	    $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 755 -s target/release/agentkeys $(DESTDIR)$(BINDIR)/agentkeys
	target/release/agentkeys man > $(DESTDIR)$(MANDIR)/man1/agentkeys.1
	target/release/agentkeys completions bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/agentkeys
	target/release/agentkeys completions zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_agentkeys
	target/release/agentkeys completions fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/agentkeys.fish

# The C library built with the `dist` profile (LTO, no debug information); the static library's
# bundled standard-library objects are stripped of theirs too.
install-lib:
	$(CARGO) build --profile dist -p agentkeys-ffi
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 644 include/agentkeys.h $(DESTDIR)$(INCLUDEDIR)/agentkeys.h
	strip --strip-debug -o $(DESTDIR)$(LIBDIR)/libagentkeys.a target/dist/libagentkeys.a
	chmod 644 $(DESTDIR)$(LIBDIR)/libagentkeys.a
	install -m 755 target/dist/libagentkeys.so $(DESTDIR)$(LIBDIR)/libagentkeys.so.$(VERSION)
	ln -sf libagentkeys.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libagentkeys.so.0
	ln -sf libagentkeys.so.0 $(DESTDIR)$(LIBDIR)/libagentkeys.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' ffi/agentkeys.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/agentkeys.pc

# Install the binary into a scratch prefix: stripped, runnable, with its manual page and completions.
test-install-bin:
	@mkdir -p $(LOGS)
	rm -rf target/install-test
	$(MAKE) --no-print-directory install-bin PREFIX=$(CURDIR)/target/install-test
	tests/install_check.sh target/install-test | tee $(LOGS)/install.log

# Install into a scratch prefix and build the example against it through pkg-config.
test-c-install:
	@mkdir -p $(C_OUT) $(LOGS)
	rm -rf $(C_OUT)/prefix
	$(MAKE) --no-print-directory install-lib PREFIX=$(CURDIR)/$(C_OUT)/prefix
	tests/c/run_example.sh $(CURDIR)/$(C_OUT)/prefix $(C_OUT) | tee $(LOGS)/example.log

# A virtual environment with the pinned Python tools (re-created when the pins change).
venv: $(VENV)/.installed

$(VENV)/.installed: python/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VPY)/pip install -q --upgrade pip
	$(VPY)/pip install -q -r python/requirements-dev.txt
	touch $@

# The abi3 wheel, installed into the venv as a user would install it.
wheel: venv
	rm -rf target/wheels
	cd python && $(VPY)/maturin build -q --out ../target/wheels
	$(VPY)/pip install -q --force-reinstall --no-deps target/wheels/agentkeys-*.whl

# The wheel users install: manylinux2014 (glibc 2.17, what Wazuh managers' distributions have),
# built with zig from PyPI, stripped; then installed into a fresh venv and smoke-tested.
wheel-manylinux: venv
	rm -rf target/wheels-manylinux
	cd python && PATH=$(VPY):$$PATH $(VPY)/maturin build -q --release --zig --compatibility manylinux2014 --strip --out ../target/wheels-manylinux

test-wheel: wheel-manylinux
	@mkdir -p $(LOGS)
	tests/python/wheel_smoke.sh target/wheels-manylinux target/wheel-smoke | tee $(LOGS)/wheel.log

test-python: wheel
	@mkdir -p $(LOGS)
	cargo build -q -p agentkeys-server
	cd /tmp && AGENTKEYS_BIN=$(CURDIR)/target/debug/agentkeys $(VPY)/pytest -ra -p no:cacheprovider --rootdir=$(CURDIR)/python $(CURDIR)/python/tests | tee $(CURDIR)/$(LOGS)/python.log
	$(VPY)/mypy --strict --cache-dir=target/mypy-cache python/agentkeys examples/python
	$(VPY)/python -m mypy.stubtest --mypy-config-file python/pyproject.toml agentkeys._native

bench-python: venv
	cd python && $(VPY)/maturin build -q --release --out ../target/wheels-release
	$(VPY)/pip install -q --force-reinstall --no-deps target/wheels-release/agentkeys-*.whl
	$(VPY)/python python/bench/bench_parse.py

# The kill -9 fault test at full strength (`make test` runs 5 cycles).
KILL_CYCLES ?= 100
kill-test:
	AGENTKEYS_KILL_CYCLES=$(KILL_CYCLES) $(CARGO) test -p agentkeys-server --test faults kill_nine -- --nocapture

# A short fuzzing pass over every core parser, part of `make test`; `make fuzz` is the long run.
FUZZ_CI_SECONDS ?= 10
fuzz-ci:
	@mkdir -p $(LOGS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS) > $(LOGS)/fuzz.txt 2>&1 || \
	  { tail -n 60 $(LOGS)/fuzz.txt; echo "fuzz: a target failed (full output: $(LOGS)/fuzz.txt)"; exit 1; }
	@grep -E '^Done [0-9]+ runs' $(LOGS)/fuzz.txt || true
	@echo "fuzz: every target ran $(FUZZ_CI_SECONDS) s without a crash"

# Time-boxed fuzzing of every core parser (libFuzzer needs nightly flags, enabled here with
# RUSTC_BOOTSTRAP). Seeds in fuzz/corpus/<target>/; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := keys_file request reply keypoll values wazuh5
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t && \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t ../target/fuzz-corpus/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=80000) || exit 1; \
	done
