"""Stopping the children we start, and finding what a run left behind (Linux /proc)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path


def stop(
    process: subprocess.Popen, first_signal: int = signal.SIGTERM, timeout: float = 5.0
) -> int:
    """Ask a child we started to end with `first_signal`, SIGKILL it after `timeout` s,
    and reap it (no zombie); returns its exit code."""
    if process.poll() is None:
        process.send_signal(first_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def descendants(pid: int) -> set[int]:
    """Every process below `pid`."""
    found, pending = set(), [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
