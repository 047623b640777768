"""The Python API beyond the vectors: round trips, types, errors, big inputs, KeysFile."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any, List

import pytest

import agentkeys


def test_record_round_trip() -> None:
    rec = agentkeys.Record("001", "web-01", "10.0.0.0/255.0.0.0", "TopSecret")
    assert (rec.id, rec.name, rec.ip, rec.key, rec.removed) == ("001", "web-01", "10.0.0.0/255.0.0.0", "TopSecret", False)
    assert rec.file_ip == "10.0.0.0/8"
    assert str(rec) == "001 web-01 10.0.0.0/8 TopSecret"
    [back] = agentkeys.parse_keys(str(rec))
    assert (back.id, back.name, back.file_ip, back.key) == (rec.id, rec.name, rec.file_ip, rec.key)
    assert agentkeys.Record("001", "web-01", "any", "k") == agentkeys.Record("001", "web-01", "any", "k")
    assert len({agentkeys.Record("001", "a1", "any", "k"), agentkeys.Record("001", "a1", "any", "k")}) == 1
    assert "TopSecret" not in repr(rec), "repr must not show the key"


def test_export_import_round_trip() -> None:
    rec = agentkeys.Record("042", "db-01", "::1", agentkeys.generate_key())
    back = agentkeys.import_key(agentkeys.export_key(rec))
    assert str(back) == str(rec)
    wrapped = agentkeys.export_key(rec)
    assert str(agentkeys.import_key(wrapped[:20] + "\n  " + wrapped[20:])) == str(rec)
    with pytest.raises(agentkeys.ParseError) as e:
        agentkeys.import_key("MDAx!IHNl")
    assert e.value.kind == "InvalidBase64" and e.value.offset == 4


def test_request_round_trip() -> None:
    req = agentkeys.Request(
        "web-01", password="top secret", version="v4.14.7", groups="a,b,a", ip="::ffff:10.1.2.3", key_hash="0" * 40
    )
    wire = req.encode()
    assert wire == b"OSSEC PASS: top secret OSSEC A:'web-01' V:'v4.14.7' G:'a,b,a' IP:'10.1.2.3' K:'" + b"0" * 40 + b"'\n"
    back = agentkeys.Request.parse(wire, password="top secret", manager_version="v4.14.7")
    assert back == req
    assert back.address("192.0.2.1") == "10.1.2.3"
    src = agentkeys.Request.parse(agentkeys.Request("ab", ip="src").encode())
    assert src.ip == "src" and src.address("::1") == "0000:0000:0000:0000:0000:0000:0000:0001"
    assert agentkeys.Request.parse(b"OSSEC A:'ab'\n").address("10.0.0.1") == "any"
    assert agentkeys.Request.parse(b"OSSEC A:'ab'\n").address("10.0.0.1", use_source_ip=True) == "10.0.0.1"


def test_request_refusals_carry_the_reply() -> None:
    with pytest.raises(agentkeys.RequestRefused) as e:
        agentkeys.Request.parse(b"OSSEC A:'ab' IP:'300.1.1.1'\n")
    assert e.value.kind == "InvalidAddr"
    assert e.value.subject == "300.1.1.1"
    assert e.value.reply == "ERROR: Invalid IP: 300.1.1.1. Unable to add agent"
    with pytest.raises(agentkeys.RequestRefused) as e:
        agentkeys.Request.parse(b"OSSEC PASS: nope OSSEC A:'ab'\n", password=b"pw")
    assert e.value.kind == "InvalidPassword"
    with pytest.raises(agentkeys.ValidationError):
        agentkeys.Request("ab", version="v'1")
    with pytest.raises(agentkeys.ValidationError):
        agentkeys.Request("bad name")


def test_parse_reply_styles() -> None:
    assert agentkeys.parse_reply(b"OSSEC K:'006 web 10.1.1.1/32 k1'").ip == "10.1.1.1/32"
    with pytest.raises(agentkeys.ServerRefused) as e:
        agentkeys.parse_reply(b"ERROR: Duplicate agent name: web. Unable to add agent")
    assert e.value.server_message == "Duplicate agent name: web"
    with pytest.raises(agentkeys.ParseError) as e2:
        agentkeys.parse_reply(b"")
    assert e2.value.kind == "EmptyReply"


def test_errors_have_kind_field_line_offset() -> None:
    with pytest.raises(agentkeys.ParseError) as e:
        agentkeys.parse_keys(b"001 a1 any k1\n# ok\n003 bad*name any k3\n")
    err = e.value
    assert (err.kind, err.field, err.line, err.offset) == ("InvalidName", "name", 3, 7)
    assert str(err).startswith("line 3: agent name must be")
    assert isinstance(err, agentkeys.Error) and isinstance(err, ValueError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: agentkeys.validate_name(None),
        lambda: agentkeys.validate_name(5),
        lambda: agentkeys.validate_name(b"bytes"),
        lambda: agentkeys.parse_keys(None),
        lambda: agentkeys.parse_keys(123),
        lambda: agentkeys.parse_reply(["list"]),
        lambda: agentkeys.Record(1, "ab", "any", "k"),
        lambda: agentkeys.key_hash(None, "a", "b"),
        lambda: agentkeys.export_key("not a record"),
        lambda: agentkeys.Request.parse(b"x", password=5),
        lambda: agentkeys.keypoll.parse_output(None),
    ],
)
def test_wrong_types_raise_type_error(call: Any) -> None:
    with pytest.raises(TypeError):
        call()


def test_str_and_bytes_and_bytearray_are_accepted() -> None:
    line = "001 a1 any k1\n"
    for data in (line, line.encode(), bytearray(line.encode())):
        assert [r.id for r in agentkeys.parse_keys(data)] == ["001"]


def test_hostile_input_never_crashes() -> None:
    for blob in (b"\x00" * 1000, bytes(range(256)) * 40, b"OSSEC A:'" + b"a" * 70_000, b"{" * 70_000):
        for call in (agentkeys.parse_keys, agentkeys.parse_reply, agentkeys.import_key, agentkeys.keypoll.parse_output):
            with pytest.raises(agentkeys.Error):
                call(blob)
        with pytest.raises(agentkeys.RequestRefused):
            agentkeys.Request.parse(blob)


def big_keys_file(lines: int) -> bytes:
    key = "e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a"
    parts = []
    for i in range(1, lines + 1):
        ip = ("any", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "172.16.0.0/12")[i % 3]
        parts.append(f"{i:03d} agent-{i} {ip} {key}\n")
    return "".join(parts).encode()


def test_ten_megabyte_file_parses() -> None:
    data = big_keys_file(110_000)
    assert len(data) > 10_000_000
    records = agentkeys.parse_keys(data)
    assert len(records) == 110_000 and records[-1].id == "110000"


def test_big_parse_releases_the_gil() -> None:
    """Native code that holds the GIL lets no other thread run during the call: count ticks of a
    second thread strictly during one parse of a large input."""
    data = big_keys_file(150_000)
    ticks: List[int] = []
    done = threading.Event()
    started = threading.Event()

    def ticker() -> None:
        started.set()
        while not done.is_set():
            ticks.append(1)
            done.wait(0.0002)

    t = threading.Thread(target=ticker)
    t.start()
    started.wait()
    try:
        before = len(ticks)
        agentkeys.parse_keys(data)
        during = len(ticks) - before
    finally:
        done.set()
        t.join()
    assert during >= 3, f"only {during} ticks while parsing: the GIL was not released"


def test_keys_file_read_collects_problems(tmp_path: Path) -> None:
    path = tmp_path / "client.keys"
    path.write_bytes(b"001 a1 any k1\n002 !gone any k2\n\n003 a3 300.1.1.1 k3\n004 a4 any k4\n")
    keys = agentkeys.KeysFile.read(path)
    assert [r.id for r in keys.agents] == ["001", "004"]
    assert [r.id for r in keys.removed] == ["002"]
    assert [(p.line, p.kind) for p in keys.problems] == [(3, "EmptyLine"), (4, "InvalidAddr")]
    with pytest.raises(agentkeys.Error) as e:
        agentkeys.KeysFile.read(path, strict=True)
    assert e.value.line == 3
    assert agentkeys.KeysFile.read(tmp_path / "missing").agents == []


def test_keys_file_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "client.keys"
    path.write_bytes(b"001 a1 any k1\n002 !gone any k2\n")
    os.chmod(path, 0o600)
    inode = path.stat().st_ino
    keys = agentkeys.KeysFile.read(path)
    keys.agents.append(agentkeys.Record("003", "a3", "10.1.1.1/32", "k3"))
    keys.write(path)
    assert path.read_text() == "001 a1 any k1\n003 a3 10.1.1.1 k3\n002 !gone any k2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode, "written through a new file and rename"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.keys"], "no temporary file left behind"
    fresh = tmp_path / "new.keys"
    agentkeys.KeysFile(agents=[agentkeys.Record("001", "a1", "any", "k")]).write(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_keys_file_write_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "client.keys"
    path.write_bytes(b"001 a1 any k1\n")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        agentkeys.KeysFile(agents=[]).write(path)
    assert path.read_bytes() == b"001 a1 any k1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.keys"]


def test_validators_raise_validation_error() -> None:
    assert agentkeys.validate_script_id("001") == "001"
    for call, kind in (
        (lambda: agentkeys.validate_script_id("42"), "ScriptIdTooShort"),
        (lambda: agentkeys.validate_id("000"), "ReservedId"),
        (lambda: agentkeys.Record("001", "a b", "any", "k"), "InvalidName"),
    ):
        with pytest.raises(agentkeys.ValidationError) as e:
            call()
        assert e.value.kind == kind


def test_generate_key_and_secrets() -> None:
    a, b = agentkeys.generate_key(), agentkeys.generate_key()
    assert len(a) == 64 and a != b and agentkeys.validate_key(a) == a
    assert agentkeys.key_hash("001", "Agent1", "1234") == "15153d246b71789195b48778875af94f9378ecf9"


def test_version() -> None:
    assert agentkeys.__version__.count(".") == 2
