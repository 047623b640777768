# agentkeys: the one entry point for building and testing. CI runs `make test` (via .ci/run).
#
#   make run     start the registration server on ./agentkeys-data (port 1515)
#   make test    everything: format, lints, Rust tests, no_std builds, docs
#
# Each part can be run alone: fmt-check, lint, test-rust, nostd, doc.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LOGS := target/test-logs
NOSTD_TARGET := thumbv7em-none-eabihf

.PHONY: run test fmt-check lint test-rust nostd doc bench

run:
	$(CARGO) run --release -p agentkeys-server -- serve

test: fmt-check lint test-rust nostd doc
	@echo "make test: all checks passed"
	@cat $(LOGS)/*.log | awk '/^test result:/ { p += $$4; f += $$6 } END { printf "all suites: %d passed, %d failed\n", p, f }'

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p agentkeys --no-default-features -- -D warnings
	$(CARGO) clippy -p agentkeys --no-default-features --features alloc -- -D warnings

test-rust:
	@mkdir -p $(LOGS)
	$(CARGO) test --workspace 2>&1 | tee $(LOGS)/rust.log

# Proof that core is no_std: build it for a bare-metal target, with and without `alloc`.
nostd:
	@rustup target list --installed | grep -qx $(NOSTD_TARGET) || rustup target add $(NOSTD_TARGET)
	$(CARGO) build -p agentkeys --no-default-features --target $(NOSTD_TARGET)
	$(CARGO) build -p agentkeys --no-default-features --features alloc --target $(NOSTD_TARGET)

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p agentkeys --no-deps

bench:
	$(CARGO) bench -p agentkeys --bench parse
