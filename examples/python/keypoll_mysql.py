#!/usr/bin/env python3
"""Key-poll script: look unknown agents up in a MySQL/MariaDB table (see schema.sql).

Configure the manager (ossec.conf)::

    <auth>
      <key_request>
        <enabled>yes</enabled>
        <exec_path>/usr/bin/python3 /var/ossec/integrations/keypoll_mysql.py</exec_path>
        <timeout>10</timeout>
      </key_request>
    </auth>

and give the connection through the environment (defaults in brackets):
AGENTKEYS_DB_HOST [127.0.0.1], AGENTKEYS_DB_PORT [3306], AGENTKEYS_DB_USER [root],
AGENTKEYS_DB_PASSWORD [empty], AGENTKEYS_DB_NAME [test], AGENTKEYS_DB_TABLE [agents].

Try it by hand: ``keypoll_mysql.py id 001`` or ``keypoll_mysql.py ip 10.1.2.3``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Dict, List, Optional

import pymysql

import agentkeys.keypoll


def connect() -> "pymysql.connections.Connection[pymysql.cursors.Cursor]":
    """Opens the database named by the environment."""
    return pymysql.connect(
        host=os.environ.get("AGENTKEYS_DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("AGENTKEYS_DB_PORT", "3306")),
        user=os.environ.get("AGENTKEYS_DB_USER", "root"),
        password=os.environ.get("AGENTKEYS_DB_PASSWORD", ""),
        database=os.environ.get("AGENTKEYS_DB_NAME", "test"),
        connect_timeout=5,
        read_timeout=5,
        charset="utf8mb4",
    )


def table_name() -> str:
    """The table to read; only a plain identifier is accepted (it cannot be a query parameter)."""
    table = os.environ.get("AGENTKEYS_DB_TABLE", "agents")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", table):
        raise ValueError(f"AGENTKEYS_DB_TABLE {table!r} is not a plain table name")
    return table


def address_forms(value: str) -> List[str]:
    """Every way a table may hold this address: as sent, and for IPv6 compressed
    (``2001:db8::5``) and expanded (``2001:0db8:…:0005``), in lower and upper case, so rows match
    whichever form the tool that filled the table wrote."""
    forms = [value]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return forms
    if isinstance(addr, ipaddress.IPv6Address):
        for text in (addr.compressed, addr.exploded):
            forms += [text, text.upper()]
    else:
        forms.append(str(addr))
    return list(dict.fromkeys(forms))


def lookup(kind: str, value: str) -> Optional[Dict[str, object]]:
    """The agent with this ID or address, or None. ``kind`` was validated by keypoll.main and the
    value is passed as a query parameter, never spliced into SQL."""
    column = "id" if kind == "id" else "ip"
    candidates = address_forms(value) if kind == "ip" else [value]
    marks = ", ".join(["%s"] * len(candidates))
    query = f"SELECT id, name, ip, `key` FROM `{table_name()}` WHERE {column} IN ({marks}) LIMIT 1"
    with connect() as conn, conn.cursor() as cur:
        cur.execute(query, tuple(candidates))
        row = cur.fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "ip": row[2], "key": row[3]}


if __name__ == "__main__":
    raise SystemExit(agentkeys.keypoll.main(lookup))
