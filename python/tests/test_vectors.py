"""Every case of tests/vectors/*.json through the Python API."""

from __future__ import annotations

from typing import Any, Dict

import pytest

import agentkeys
from conftest import load_cases, vectors_dir


def ids(case: Dict[str, Any]) -> str:
    return repr(case)[:60]


@pytest.mark.parametrize("case", load_cases("names.json"), ids=ids)
def test_names(case: Dict[str, Any]) -> None:
    if case["valid"]:
        assert agentkeys.validate_name(case["name"]) == case["name"]
    else:
        with pytest.raises(agentkeys.ValidationError) as e:
            agentkeys.validate_name(case["name"])
        assert e.value.kind == "InvalidName" and e.value.field == "name"


@pytest.mark.parametrize("case", load_cases("ip.json"), ids=ids)
def test_ip(case: Dict[str, Any]) -> None:
    if case["valid"]:
        assert agentkeys.normalize_ip(case["input"]) == case["canonical"]
        assert agentkeys.validate_ip(case["input"]) == case["canonical"]
        assert agentkeys.file_ip(case["input"]) == case["file"]
    else:
        with pytest.raises(agentkeys.ValidationError) as e:
            agentkeys.normalize_ip(case["input"])
        assert e.value.kind == "InvalidAddr"


@pytest.mark.parametrize("case", load_cases("groups.json"), ids=ids)
def test_groups(case: Dict[str, Any]) -> None:
    if case["ok"]:
        assert agentkeys.validate_groups(case["groups"]) == case["dedup"]
    else:
        with pytest.raises(agentkeys.ValidationError) as e:
            agentkeys.validate_groups(case["groups"])
        assert str(e.value) == case["error"]


@pytest.mark.parametrize("case", load_cases("keys_lines.json"), ids=ids)
def test_keys_lines(case: Dict[str, Any]) -> None:
    line = case["line"]
    if case["kind"] == "comment":
        assert agentkeys.parse_keys(line + "\n") == []
    elif case["kind"] == "error":
        with pytest.raises(agentkeys.Error) as e:
            agentkeys.parse_keys(line + "\n")
        assert e.value.line == 1
    else:
        [record] = agentkeys.parse_keys(line + "\n")
        assert record.id == case["id"]
        assert record.removed == (case["kind"] == "removed")
        assert str(record) == line
        if case["kind"] == "agent":
            assert (record.name, record.file_ip, record.key) == (case["name"], case["ip"], case["key"])


@pytest.mark.parametrize("case", load_cases("requests.json"), ids=ids)
def test_requests(case: Dict[str, Any]) -> None:
    kwargs: Dict[str, Any] = {"password": case["server_password"], "manager_version": case["manager_version"]}
    data = case["request"].encode()
    if not case["ok"]:
        with pytest.raises(agentkeys.RequestRefused) as e:
            agentkeys.Request.parse(data, **kwargs)
        assert str(e.value) == case["error"]
        assert e.value.reply == case["error"] + ". Unable to add agent"
        return
    req = agentkeys.Request.parse(data, **kwargs)
    expect = case["expect"]
    assert req.name == expect["name"]
    if "ip" in expect:
        assert req.address(case["source_ip"], use_source_ip=case["use_source_ip"]) == expect["ip"]
    if "groups" in expect:
        assert req.groups is not None and agentkeys.validate_groups(req.groups) == expect["groups"]
    if "key_hash" in expect:
        assert req.key_hash == expect["key_hash"]
    if "version" in expect:
        assert req.version == expect["version"]


@pytest.mark.parametrize("case", load_cases("replies.json"), ids=ids)
def test_replies(case: Dict[str, Any]) -> None:
    data = case["reply"].encode()
    if case["ok"]:
        assert str(agentkeys.parse_reply(data)) == case["record"]
    elif "server_error" in case:
        with pytest.raises(agentkeys.ServerRefused) as e:
            agentkeys.parse_reply(data)
        assert e.value.server_message == case["server_error"] and e.value.kind == "ServerRefused"
    else:
        with pytest.raises(agentkeys.ParseError):
            agentkeys.parse_reply(data)


@pytest.mark.parametrize("case", load_cases("keypoll_output.json"), ids=ids)
def test_keypoll_output(case: Dict[str, Any]) -> None:
    if case["ok"]:
        assert str(agentkeys.keypoll.parse_output(case["output"])) == case["record"]
    elif "script_error" in case:
        with pytest.raises(agentkeys.ScriptRefused) as e:
            agentkeys.keypoll.parse_output(case["output"])
        assert (e.value.code, e.value.script_message) == (case["script_error"]["code"], case["script_error"]["message"])
    else:
        with pytest.raises(agentkeys.ParseError):
            agentkeys.keypoll.parse_output(case["output"])


@pytest.mark.parametrize("case", load_cases("key_hash.json"), ids=ids)
def test_key_hash(case: Dict[str, Any]) -> None:
    assert agentkeys.key_hash(case["id"], case["name"], case["key"]) == case["hash"]


@pytest.mark.parametrize("case", load_cases("encryption_key.json"), ids=ids)
def test_encryption_key(case: Dict[str, Any]) -> None:
    key = agentkeys.encryption_key(case["id"], case["name"], case["key"])
    assert key == case["encryption_key"] and key[:32] == case["aes_key"]


@pytest.mark.parametrize("case", load_cases("export_import.json"), ids=ids)
def test_export_import(case: Dict[str, Any]) -> None:
    if not case["ok"]:
        with pytest.raises(agentkeys.Error):
            agentkeys.import_key(case["base64"])
        return
    record = agentkeys.import_key(case["base64"])
    assert str(record) == case["record"]
    assert agentkeys.export_key(record) == case["base64"]


def test_every_vector_file_is_covered() -> None:
    covered = {
        "names.json", "ip.json", "groups.json", "keys_lines.json", "requests.json", "replies.json",
        "keypoll_output.json", "key_hash.json", "encryption_key.json", "export_import.json",
        "wazuh5.json",  # test_wazuh5.py
    }
    present = {p.name for p in vectors_dir().glob("*.json")}
    assert present <= covered, f"vector files without a Python test: {sorted(present - covered)}"
