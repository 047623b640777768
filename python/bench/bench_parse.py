"""Parsing a 100,000-line client.keys: agentkeys.parse_keys vs. a plain Python parser.

Run with ``make bench-python`` (release build of the extension). Prints the median of 15 runs of
each and their ratio. The file mixes ``any`` / IPv4 / IPv4 CIDR / IPv6 addresses, 64-hex keys and
5% removed lines, like core/benches/parse.rs.
"""

from __future__ import annotations

import ipaddress
import random
import re
import statistics
import time
from dataclasses import dataclass
from typing import Callable, List

import agentkeys

LINES = 100_000
RUNS = 15

NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{1,127}\Z")
KEY = re.compile(r"[!-&(-~]{1,128}\Z")


@dataclass(frozen=True)
class PyRecord:
    id: str
    name: str
    ip: str
    key: str
    removed: bool


def python_parse(data: bytes) -> List[PyRecord]:
    """A straightforward pure-Python client.keys parser with the same checks."""
    records = []
    for number, raw in enumerate(data.decode("ascii").split("\n"), 1):
        line = raw.rstrip("\r")
        if not line:
            if number > 1 and raw == "" and data.endswith(b"\n"):
                continue
            raise ValueError(f"line {number}: empty line")
        if line[0] in "# ":
            continue
        fields = line.split(" ", 3)
        agent_id = fields[0]
        if not (agent_id.isdigit() and len(agent_id) <= 8 and agent_id.strip("0")):
            raise ValueError(f"line {number}: invalid ID")
        if len(fields) > 1 and fields[1][:1] in ("!", "#"):
            records.append(PyRecord(agent_id, fields[1][1:], "", "", True))
            continue
        if len(fields) != 4:
            raise ValueError(f"line {number}: missing field")
        _, name, ip, key = fields
        if not NAME.match(name):
            raise ValueError(f"line {number}: invalid name")
        if ip != "any":
            try:
                ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise ValueError(f"line {number}: invalid address") from None
        if not KEY.match(key):
            raise ValueError(f"line {number}: invalid key")
        records.append(PyRecord(agent_id, name, ip, key, False))
    return records


def keys_file(lines: int) -> bytes:
    rng = random.Random(1515)
    out = []
    for i in range(1, lines + 1):
        key = "%064x" % rng.getrandbits(256)
        roll = rng.randrange(100)
        if roll < 40:
            ip = "any"
        elif roll < 70:
            ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        elif roll < 85:
            ip = f"172.16.{i & 255}.0/24"
        else:
            ip = f"2001:0DB8:0000:0000:0000:0000:{i >> 16 & 0xFFFF:04X}:{i & 0xFFFF:04X}"
        removed = "!" if roll % 20 == 0 else ""
        out.append(f"{i:03d} {removed}agent-{i}.example {ip} {key}\n")
    return "".join(out).encode()


def median_seconds(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    data = keys_file(LINES)
    assert len(agentkeys.parse_keys(data)) == len(python_parse(data)) == LINES
    native = median_seconds(lambda: agentkeys.parse_keys(data))
    python = median_seconds(lambda: python_parse(data))
    print(f"client.keys: {LINES} lines, {len(data) / 1e6:.2f} MB, median of {RUNS} runs")
    print(f"  agentkeys.parse_keys   {native * 1000:8.1f} ms")
    print(f"  pure-Python parser     {python * 1000:8.1f} ms")
    print(f"  ratio                  {python / native:8.1f}x faster")


if __name__ == "__main__":
    main()
