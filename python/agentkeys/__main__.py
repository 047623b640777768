"""``python -m agentkeys``: check a client.keys, or try a key-poll script as the manager would.

    python -m agentkeys check /var/ossec/etc/client.keys
    python -m agentkeys keypoll /usr/bin/python3 keypoll_mysql.py -- id 001

``check`` prints every problem with its line and exits 0 only if there is none. ``keypoll`` runs
the script (argv, no shell) as the manager runs it, reads its stdout and judges the answer with
the manager's rules: exit 0 for an agent the manager would add, 1 otherwise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, TextIO

from . import ParseError, ScriptRefused, keypoll
from ._native import check_key_request, scan_keys

USAGE = """usage:
  python -m agentkeys check FILE
  python -m agentkeys keypoll COMMAND [ARG…] -- id|ip VALUE"""


def check(path: str, out: TextIO, err: TextIO) -> int:
    """Every problem of a client.keys file, with its line; 0 if there is none."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=err)
        return 1
    records, problems = scan_keys(data)
    for problem in problems:
        reason = str(problem).removeprefix(f"line {problem.line}: ")
        print(f"{path}:{problem.line}: {reason}", file=err)
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=err)
        return 1
    print(f"{path}: {len(records)} agents, no problems", file=out)
    return 0


def try_keypoll(command: Sequence[str], kind: str, value: str, out: TextIO, err: TextIO, timeout: float = 60) -> int:
    """Runs a key-poll script once and judges its answer as the manager does."""
    try:
        check_key_request(kind, value)
    except ValueError as exc:
        print(f"invalid request {kind} {value!r}: {exc}", file=err)
        return 2
    try:
        done = subprocess.run(
            [*command, kind, value],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"cannot run {command[0]}: {exc}", file=err)
        return 1
    if done.stderr:
        err.write(done.stderr.decode("utf-8", "replace"))
    try:
        record = keypoll.parse_output(done.stdout)
    except ScriptRefused as exc:
        print(f"the script answered error {exc.code}: {exc.script_message}", file=err)
        return 1
    except ParseError as exc:
        print(f"the manager would reject this answer: {exc}", file=err)
        return 1
    print(f"ok: the manager would add agent '{record.id}' ({record.name}) with address {record.ip}", file=out)
    return 0


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Runs the command line; the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "check":
        return check(args[1], out, err)
    if len(args) >= 5 and args[0] == "keypoll" and "--" in args and args.index("--") == len(args) - 3:
        split = args.index("--")
        return try_keypoll(args[1:split], args[split + 1], args[split + 2], out, err)
    print(USAGE, file=err)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
