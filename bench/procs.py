"""Processes bench/run starts: start, wait until they answer, measure from /proc, stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    """A process bench/run started, in a session of its own so its workers stop with it."""

    name: str
    popen: subprocess.Popen[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        """This process and every descendant (uvicorn and Hive Gateway workers)."""
        return [self.pid, *_descendants(self.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the tree so far."""
        return sum(_cpu(pid) for pid in self.tree())

    def cpu_by_process(self) -> dict[int, float]:
        """CPU seconds of each process of the tree."""
        return {pid: _cpu(pid) for pid in self.tree()}

    def settle(self, idle_share: float = 0.03, limit: float = 10.0) -> None:
        """Wait until the tree uses under `idle_share` of a core (work left from a load is done)."""
        deadline = time.monotonic() + limit
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.cpu_seconds()
            if now - before < 0.2 * idle_share:
                return
            before = now

    def rss_bytes(self) -> int:
        """Resident memory of the tree."""
        return sum(_rss(pid) for pid in self.tree())

    def peak_rss_bytes(self) -> int:
        """The tree's peak resident memory so far (each process's high-water mark, summed)."""
        return sum(_peak_rss(pid) for pid in self.tree())

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group this process leads, then SIGKILL after `grace` seconds."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(grace)
        else:
            # The leader is gone; its workers may not be.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def tail(self, lines: int = 15) -> str:
        """The end of its log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(
    name: str,
    command: Sequence[str],
    logs: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout_pipe: bool = False,
) -> Proc:
    """Start `command` with its output in `logs/<name>.log` (or stdout piped, for a handshake)."""
    log = logs / f"{name}.log"
    handle: TextIO = log.open("w")
    popen = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE if stdout_pipe else handle,
        stderr=handle,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        text=True,
        start_new_session=True,
    )
    handle.close()
    return Proc(name, popen, log)


def read_handshake(proc: Proc, timeout: float) -> dict[str, Any]:
    """The first JSON line `proc` prints on stdout."""
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.popen.stdout.readline()
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
        if not line and not proc.alive():
            break
    raise RuntimeError(f"{proc.name} did not start:\n{proc.tail()}")


def wait_http(proc: Proc, url: str, timeout: float) -> None:
    """Poll `url` until it answers (any HTTP status) or `proc` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.tail()}")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def wait_quiet(limit: float, cores: float = 0.25) -> float:
    """Wait up to `limit` seconds for a second in which under `cores` cores are busy; the last
    reading, in cores (other sessions' tests on a shared machine skew every figure)."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_busy()
        time.sleep(1.0)
        after = machine_busy()
        busy = (after[0] - before[0]) / max(after[1] - before[1], 1) * (os.cpu_count() or 1)
        if busy < cores or time.monotonic() >= deadline:
            return busy
        time.sleep(2.0)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # The command name may hold spaces and parentheses: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


def _cpu(pid: int) -> float:
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
