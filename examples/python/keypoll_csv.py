#!/usr/bin/env python3
"""Key-poll script: look unknown agents up in a CSV file with the columns ``id,name,ip,key``.

The file is ``$AGENTKEYS_CSV`` or ``agents.csv`` next to this script. Lines starting with ``#``
are comments. Try it: ``keypoll_csv.py id 001`` or ``keypoll_csv.py ip 10.1.2.3``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, Optional

import agentkeys
import agentkeys.keypoll

FIELDS = ("id", "name", "ip", "key")


def csv_path() -> Path:
    """Where the agents are listed."""
    return Path(os.environ.get("AGENTKEYS_CSV", Path(__file__).with_name("agents.csv")))


def same_address(a: str, b: str) -> bool:
    """Whether two spellings name the same address (``2001:db8::5`` and its expanded form)."""
    try:
        return agentkeys.normalize_ip(a) == agentkeys.normalize_ip(b)
    except agentkeys.Error:
        return False


def lookup(kind: str, value: str) -> Optional[Dict[str, object]]:
    """The first row whose ``id`` (or address) matches ``value``, or None."""
    with csv_path().open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), fieldnames=FIELDS)
        for row in rows:
            field = row.get(kind) or ""
            if field == value or (kind == "ip" and same_address(field, value)):
                return {name: row.get(name) for name in FIELDS}
    return None


if __name__ == "__main__":
    raise SystemExit(agentkeys.keypoll.main(lookup))
