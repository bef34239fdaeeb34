"""Stopping the children we start, and finding what a run left behind (psutil)."""

from __future__ import annotations

import signal
import subprocess

import psutil


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
    """Every process below `pid` (empty when `pid` is gone)."""
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
