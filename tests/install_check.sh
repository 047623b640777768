#!/usr/bin/env bash
# Checks what `make install-bin` put under PREFIX: a stripped, runnable binary, its manual page
# and the shell completions.
#   tests/install_check.sh PREFIX
set -euo pipefail
prefix=$1
bin="$prefix/bin/agentkeys"
"$bin" --version | grep -q '^agentkeys '
if readelf -S "$bin" | grep -qE '\.symtab|\.debug_info'; then
    echo "install: $bin is not stripped" >&2
    exit 1
fi
grep -q '^\.TH agentkeys 1' "$prefix/share/man/man1/agentkeys.1"
grep -q 'agentkeys' "$prefix/share/bash-completion/completions/agentkeys"
grep -q 'agentkeys' "$prefix/share/zsh/site-functions/_agentkeys"
grep -q 'agentkeys' "$prefix/share/fish/vendor_completions.d/agentkeys.fish"
echo "install: 1 passed, 0 failed"
