#!/usr/bin/env bash
# Installs the manylinux2014 wheel into a fresh virtual environment and checks it as a user on an
# older distribution would meet it: the tag, the glibc symbols it needs (at most 2.17), a stripped
# extension, and that it imports and works.
#   tests/python/wheel_smoke.sh WHEEL_DIR SCRATCH
set -euo pipefail
wheels=$1
mkdir -p "$2"
scratch=$(realpath "$2")
wheel=$(realpath "$(ls "$wheels"/agentkeys-*manylinux2014_x86_64*.whl)")
rm -rf "$scratch"
mkdir -p "$scratch/unpacked"
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install -q --no-index --no-deps "$wheel"
(cd "$scratch/unpacked" && python3 -m zipfile -e "$wheel" .)
so=$(ls "$scratch"/unpacked/agentkeys/_native*.so)
if readelf -S "$so" | grep -qE '\.debug_|\.symtab'; then
    echo "wheel_smoke: $so is not stripped" >&2
    exit 1
fi
newest=$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -V | tail -n 1)
if [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -n 1)" != "GLIBC_2.17" ]; then
    echo "wheel_smoke: $so needs $newest, newer than manylinux2014's GLIBC_2.17" >&2
    exit 1
fi
cd "$scratch"
"$scratch/venv/bin/python" - <<'PY'
import agentkeys
from agentkeys import wazuh5
records = agentkeys.parse_keys(b"001 web-01 any 0123456789abcdef\n")
assert records[0].name == "web-01", records
token = wazuh5.mint_token("manager.example.com", pin=bytes(32))
assert wazuh5.decode_token(token.encode()) == token
print(f"wheel_smoke: agentkeys {agentkeys.__version__} imports and works")
PY
printf '001 web-01 any 0123456789abcdef\n' > keys
"$scratch/venv/bin/python" -m agentkeys check keys
echo "wheel_smoke: $(basename "$wheel") ok (stripped, needs at most $newest)"
echo "wheel: 1 passed, 0 failed"
