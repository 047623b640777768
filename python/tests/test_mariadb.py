"""examples/python/keypoll_mysql.py against the real MariaDB on 127.0.0.1 (database ``test``).

Skipped, with a visible reason, when MariaDB does not answer; failed instead when
AGENTKEYS_REQUIRE_DB=1 (as CI sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, Iterator, Tuple

import pytest

from conftest import EXAMPLES

pymysql = pytest.importorskip("pymysql")

KEY_001 = "675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911"
KEY_002 = "ac575526e8bbcddf6654e5aa0a39fa60a0020e5d34ed1370916368bdaf5f0c71"
TABLE = f"agentkeys_test_{os.getpid()}"
PORT = int(os.environ.get("AGENTKEYS_MARIADB_PORT", "3306"))


def connect() -> "pymysql.connections.Connection[pymysql.cursors.Cursor]":
    return pymysql.connect(host="127.0.0.1", port=PORT, user="root", password="", database="test", connect_timeout=3)


@pytest.fixture(scope="module")
def table() -> Iterator[str]:
    try:
        conn = connect()
    except pymysql.err.MySQLError as exc:
        message = f"MariaDB does not answer on 127.0.0.1:{PORT} ({exc}); database tests not run"
        if os.environ.get("AGENTKEYS_REQUIRE_DB") == "1":
            pytest.fail(message + " and AGENTKEYS_REQUIRE_DB=1")
        pytest.skip(message + " (set AGENTKEYS_REQUIRE_DB=1 to fail instead)")
    schema = (EXAMPLES / "schema.sql").read_text()
    schema = schema.replace("EXISTS agents", f"EXISTS {TABLE}").replace("INTO agents", f"INTO {TABLE}")
    with conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
            for statement in schema.split(";"):
                sql = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
                if sql.strip():
                    cur.execute(sql)
            cur.execute(
                f"INSERT INTO {TABLE} (id, name, ip, `key`) VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
                ("005", "bad name", "any", KEY_001, "006", "v6-host", "2001:db8::6", KEY_002),
            )
        conn.commit()
    yield TABLE
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.commit()


def run(table: str, *args: str, **env: str) -> Tuple[int, Dict[str, object], str]:
    environ = dict(os.environ, AGENTKEYS_DB_TABLE=table, AGENTKEYS_DB_PORT=str(PORT))
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "keypoll_mysql.py"), *args], capture_output=True, text=True, timeout=60, env=environ
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"expected one line of JSON, got {proc.stdout!r} (stderr {proc.stderr!r})"
    return proc.returncode, json.loads(lines[0]), proc.stdout


def test_known_id(table: str) -> None:
    status, _, stdout = run(table, "id", "001")
    assert status == 0
    assert stdout == '{"error":0,"data":{"id":"001","name":"web-01","ip":"any","key":"%s"}}\n' % KEY_001


def test_known_ip(table: str) -> None:
    status, _, stdout = run(table, "ip", "10.1.2.3")
    assert status == 0
    assert stdout == '{"error":0,"data":{"id":"002","name":"db-01","ip":"10.1.2.3","key":"%s"}}\n' % KEY_002


def test_ipv6_row_is_normalised(table: str) -> None:
    status, answer, _ = run(table, "id", "006")
    assert status == 0 and answer["data"] == {
        "id": "006", "name": "v6-host", "ip": "2001:0DB8:0000:0000:0000:0000:0000:0006", "key": KEY_002
    }


def test_unknown_id(table: str) -> None:
    status, answer, stdout = run(table, "id", "404")
    assert status == 0
    assert stdout == '{"error":4,"message":"No agent key found for id 404"}\n'


def test_row_with_an_invalid_name(table: str) -> None:
    status, answer, _ = run(table, "id", "005")
    assert status == 0 and answer["error"] == 6
    assert str(answer["message"]).startswith("invalid agent record for id 005: agent name must be")


def test_injection_attempt_never_reaches_the_database(table: str) -> None:
    status, answer, _ = run(table, "id", "1 OR 1=1")
    assert status == 2 and answer["error"] == 2


def test_database_down_is_an_answer(table: str) -> None:
    status, answer, _ = run(table, "id", "001", AGENTKEYS_DB_PORT="1")
    assert status == 0 and answer["error"] == 5
    assert str(answer["message"]).startswith("lookup failed: OperationalError")
