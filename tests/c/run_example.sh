#!/usr/bin/env bash
# Builds examples/c/authd_demo against an *installed* libagentkeys found through pkg-config, linked
# dynamically and statically, and checks its replies against examples/c/expected.txt.
#   tests/c/run_example.sh PREFIX OUTDIR
set -euo pipefail
prefix=$1
out=$2
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)

# shellcheck disable=SC2046 # pkg-config output is meant to be split
cc "${cflags[@]}" examples/c/authd_demo.c $(pkg-config --cflags --libs agentkeys) -Wl,-rpath,"$prefix/lib" -o "$out/authd_demo_dynamic"
# shellcheck disable=SC2046
cc "${cflags[@]}" $(pkg-config --cflags agentkeys) examples/c/authd_demo.c "$prefix/lib/libagentkeys.a" \
    $(pkg-config --static --libs-only-l agentkeys | sed 's/-lagentkeys//') -o "$out/authd_demo_static"

readelf -d "$out/authd_demo_dynamic" | grep -q 'NEEDED.*\[libagentkeys\.so\.0\]' \
    || { echo "dynamic demo does not depend on libagentkeys.so.0" >&2; exit 1; }
if readelf -d "$out/authd_demo_static" | grep -q 'libagentkeys'; then
    echo "static demo still depends on a shared libagentkeys" >&2
    exit 1
fi
readelf -d "$prefix/lib/libagentkeys.so" | grep -q 'SONAME.*\[libagentkeys\.so\.0\]' \
    || { echo "libagentkeys.so has no SONAME libagentkeys.so.0" >&2; exit 1; }

# The C example in ffi/README.md must compile against the installed header and library.
awk '/^```c$/ {on = 1; next} /^```$/ {on = 0} on' ffi/README.md > "$out/readme_example.c"
cat >> "$out/readme_example.c" <<'MAIN'
int main(void) {
    const char *msg = "OSSEC PASS: topsecret OSSEC A:'web-01'\n";
    char reply[512];
    handle(msg, strlen(msg), "10.0.0.1", reply, sizeof reply);
    return strncmp(reply, "OSSEC K:'042 web-01 any ", 24) != 0;
}
MAIN
# shellcheck disable=SC2046
cc "${cflags[@]}" -Wno-unused-function "$out/readme_example.c" $(pkg-config --cflags --libs agentkeys) -Wl,-rpath,"$prefix/lib" -o "$out/readme_example"
"$out/readme_example"

passed=1
for kind in dynamic static; do
    "$out/authd_demo_$kind" examples/c/client.keys examples/c/requests.txt topsecret \
        | sed -E 's/[0-9a-f]{64}/KEY/' > "$out/authd_demo_$kind.txt"
    diff -u examples/c/expected.txt "$out/authd_demo_$kind.txt"
    passed=$((passed + 1))
done
# The installed libraries stay small: LTO and no debug information (the static library bundles
# the standard library's objects, which is most of its size).
size_of() { stat -c %s "$1"; }
so_size=$(size_of "$prefix/lib/libagentkeys.so.0")
a_size=$(size_of "$prefix/lib/libagentkeys.a")
if [ "$so_size" -gt $((2 * 1024 * 1024)) ] || [ "$a_size" -gt $((20 * 1024 * 1024)) ]; then
    echo "installed libraries too large: libagentkeys.so $so_size bytes, libagentkeys.a $a_size bytes" >&2
    exit 1
fi
passed=$((passed + 1))
echo "example: $passed passed, 0 failed"
