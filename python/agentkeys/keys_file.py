"""Reading and atomically writing whole client.keys files."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Union

from ._native import Error, Record, scan_keys

PathLike = Union[str, "os.PathLike[str]"]

#: Mode of a client.keys file agentkeys creates (upstream's installer uses 0640 too).
DEFAULT_MODE = 0o640


@dataclass
class KeysFile:
    """The contents of a client.keys file.

    ``agents`` are the active agents in file order, ``removed`` the removed ones (kept verbatim by
    upstream), ``problems`` every line that could not be read, each an :class:`agentkeys.Error`
    whose ``.line`` is its 1-based line number.
    """

    agents: List[Record] = field(default_factory=list)
    removed: List[Record] = field(default_factory=list)
    problems: List[Error] = field(default_factory=list)

    @classmethod
    def parse(cls, data: Union[bytes, str]) -> "KeysFile":
        """Reads client.keys contents without stopping at bad lines."""
        records, problems = scan_keys(data)
        return cls(
            agents=[r for r in records if not r.removed],
            removed=[r for r in records if r.removed],
            problems=list(problems),
        )

    @classmethod
    def read(cls, path: PathLike, *, strict: bool = False) -> "KeysFile":
        """Reads a client.keys file; a missing file reads as empty.

        With ``strict=True`` the first bad line is raised instead of collected.
        """
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            data = b""
        keys = cls.parse(data)
        if strict and keys.problems:
            raise keys.problems[0]
        return keys

    def lines(self) -> Iterable[str]:
        """The file's lines, in upstream's layout: active agents, then removed lines."""
        for record in self.agents:
            yield str(record)
        for record in self.removed:
            yield str(record)

    def dumps(self) -> str:
        """The file's contents."""
        return "".join(line + "\n" for line in self.lines())

    def write(self, path: PathLike, *, mode: Optional[int] = None) -> None:
        """Writes the file atomically: a temporary file in the same directory, fsync, rename over
        ``path``, fsync of the directory. Readers see the old file or the new one, never a mix.

        The mode of an existing file is kept (unless ``mode`` is given); a new file gets 0640.

        In an agentkeys home (``etc/agentkeys.lock`` beside the file) the home's lock is held while
        writing, so this never races the server or ``agentkeys agents``; while a server runs it
        raises :class:`HomeBusy` — change agents through the server then
        (:class:`agentkeys.admin.Admin`).
        """
        target = Path(path)
        with _home_lock(target):
            self._write(target, mode)

    def _write(self, target: Path, mode: Optional[int]) -> None:
        if mode is None:
            try:
                mode = stat.S_IMODE(target.stat().st_mode)
            except FileNotFoundError:
                mode = DEFAULT_MODE
        directory = target.parent if str(target.parent) else Path(".")
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as tmp:
                os.fchmod(tmp.fileno(), mode)
                tmp.write(self.dumps())
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class HomeBusy(OSError):
    """The agentkeys home is locked by a running server (or ``agentkeys agents``): writing its
    client.keys directly would race it. Use :class:`agentkeys.admin.Admin` instead."""


@contextlib.contextmanager
def _home_lock(target: Path) -> Iterator[None]:
    """Holds the agentkeys home's lock (``agentkeys.lock`` beside ``target``) if there is one."""
    lock_path = (target.parent if str(target.parent) else Path(".")) / "agentkeys.lock"
    if not lock_path.exists():
        yield
        return
    fd = os.open(lock_path, os.O_WRONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeBusy(
                f"{target}: an agentkeys server (or `agentkeys agents`) holds {lock_path}; change "
                "agents through it (agentkeys.admin.Admin) instead of writing the file"
            ) from None
        yield
    finally:
        os.close(fd)
