"""agentkeys.keypoll: the formatters, and main() run as a real script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import List, Tuple

import pytest

import agentkeys
import agentkeys.keypoll as keypoll
from conftest import EXAMPLES

KEY = "675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911"

SCRIPT = textwrap.dedent(
    '''
    import sys
    import agentkeys.keypoll

    AGENTS = {
        ("id", "001"): {"id": "001", "name": "web-01", "ip": "any", "key": "%s"},
        ("ip", "10.1.2.3"): {"id": "002", "name": "db-01", "ip": "10.1.2.3", "key": "%s"},
        ("id", "042"): {"id": "42", "name": "short-id", "ip": "any", "key": "%s"},
        ("id", "043"): {"id": "043", "name": "bad name", "ip": "any", "key": "%s"},
        ("id", "044"): {"id": 44, "name": "int-id", "ip": "any", "key": "%s"},
    }

    def lookup(kind, value):
        if value == "666":
            raise ConnectionError("database unreachable")
        return AGENTS.get((kind, value))

    sys.exit(agentkeys.keypoll.main(lookup))
    '''
) % ((KEY,) * 5)


def run(script: Path, *args: str) -> Tuple[int, str, str]:
    proc = subprocess.run(
        [__import__("sys").executable, str(script), *args], capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "keypoll_test.py"
    path.write_text(SCRIPT)
    return path


def one_json(stdout: str) -> "dict[str, object]":
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected exactly one line of JSON, got {stdout!r}"
    value: "dict[str, object]" = json.loads(lines[0])
    return value


def test_found_by_id_and_ip(script: Path) -> None:
    status, out, err = run(script, "id", "001")
    assert (status, err) == (0, "")
    assert out == '{"error":0,"data":{"id":"001","name":"web-01","ip":"any","key":"%s"}}\n' % KEY
    status, out, _ = run(script, "ip", "10.1.2.3")
    assert status == 0 and one_json(out)["data"] == {"id": "002", "name": "db-01", "ip": "10.1.2.3", "key": KEY}


def test_unknown_agent(script: Path) -> None:
    status, out, _ = run(script, "id", "999")
    assert status == 0
    assert one_json(out) == {"error": keypoll.NOT_FOUND, "message": "No agent key found for id 999"}


@pytest.mark.parametrize(
    "argv",
    [[], ["id"], ["id", "1", "extra"], ["name", "web"], ["id", "1 2"], ["id", "../x"], ["id", "123456789"],
     ["ip", "1.2.3.4;rm"], ["ip", "any"], ["ip", "10.0.0.0/8"], ["ip", ""]],
)
def test_bad_invocations_exit_non_zero_with_an_error_answer(script: Path, argv: List[str]) -> None:
    status, out, _ = run(script, *argv)
    assert status == 2
    answer = one_json(out)
    assert answer["error"] == keypoll.USAGE and isinstance(answer["message"], str)


def test_a_failing_lookup_is_an_answer_and_the_traceback_goes_to_stderr(script: Path) -> None:
    status, out, err = run(script, "id", "666")
    assert status == 0
    assert one_json(out) == {"error": keypoll.LOOKUP_FAILED, "message": "lookup failed: ConnectionError: database unreachable"}
    assert "Traceback" in err and "Traceback" not in out


@pytest.mark.parametrize(
    ("agent_id", "why"),
    [("042", "3 to 8 digits"), ("043", "agent name"), ("044", "must be a string")],
)
def test_invalid_records_are_refused(script: Path, agent_id: str, why: str) -> None:
    status, out, _ = run(script, "id", agent_id)
    answer = one_json(out)
    assert status == 0 and answer["error"] == keypoll.INVALID_RECORD
    assert why in str(answer["message"])


def test_formatters() -> None:
    answer = keypoll.success(id="001", name="web-01", ip="10.0.0.0/24", key="k1")
    assert str(keypoll.parse_output(answer)) == "001 web-01 10.0.0.0/24 k1"
    assert keypoll.error(4, 'No "agent"') == '{"error":4,"message":"No \\"agent\\""}'
    # Refused by the encoder itself (core), as in Rust and C: no Python-side patch.
    for short in ("42", "7"):
        with pytest.raises(agentkeys.ValidationError) as short_id:
            keypoll.success(id=short, name="web-01", ip="any", key="k")
        assert short_id.value.kind == "ScriptIdTooShort" and short_id.value.field == "id"
    with pytest.raises(agentkeys.ValidationError):
        agentkeys._native.keypoll_success(id="42", name="web-01", ip="any", key="k")
    with pytest.raises(agentkeys.ValidationError):
        keypoll.error(0, "zero means success")
    with pytest.raises(agentkeys.ScriptRefused) as e:
        keypoll.parse_output(keypoll.error(7, "nope"))
    assert (e.value.code, e.value.script_message, e.value.kind) == (7, "nope", "ScriptRefused")


def test_main_in_process_with_a_record_lookup() -> None:
    import io

    out = io.StringIO()
    status = keypoll.main(lambda kind, value: agentkeys.Record("001", "web-01", "any", "k1"), ["id", "001"], stdout=out)
    assert status == 0 and out.getvalue() == '{"error":0,"data":{"id":"001","name":"web-01","ip":"any","key":"k1"}}\n'


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["id", "001"], {"id": "001", "name": "web-01", "ip": "any", "key": KEY}),
        (["ip", "10.1.2.3"], {"id": "002", "name": "db-01", "ip": "10.1.2.3",
                              "key": "ac575526e8bbcddf6654e5aa0a39fa60a0020e5d34ed1370916368bdaf5f0c71"}),
        (["ip", "2001:db8::5"], {"id": "003", "name": "v6-host", "ip": "2001:0DB8:0000:0000:0000:0000:0000:0005",
                                 "key": "e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a"}),
    ],
)
def test_csv_example(argv: List[str], expected: "dict[str, str]") -> None:
    status, out, _ = run(EXAMPLES / "keypoll_csv.py", *argv)
    assert status == 0 and one_json(out) == {"error": 0, "data": expected}


def test_csv_example_unknown() -> None:
    status, out, _ = run(EXAMPLES / "keypoll_csv.py", "id", "404")
    assert status == 0 and one_json(out)["error"] == keypoll.NOT_FOUND
