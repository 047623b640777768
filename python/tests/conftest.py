"""Shared fixtures: the cross-language vectors and paths of the repository."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"


def vectors_dir() -> Path:
    return Path(os.environ.get("AGENTKEYS_VECTORS", REPO / "tests" / "vectors"))


def load_cases(name: str) -> List[Dict[str, Any]]:
    path = vectors_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; set AGENTKEYS_VECTORS")
    cases: List[Dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cases"]
    assert cases, f"{name} has no cases"
    return cases


@pytest.fixture
def python() -> str:
    return sys.executable
