"""Stopping the children we start, children that die with us, and finding what a run
left behind (psutil)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess

import psutil

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_SET_DUMPABLE = 4


def prctl(option: int, value: int) -> bool:
    """Linux's prctl(2) for this process; False where there is none."""
    call = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    return call is not None and call(option, value, 0, 0, 0) == 0


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent `parent_pid` dies, even
    by SIGKILL (a child of ours must never go on sending load, or serving, alone); exits
    at once if the parent is already gone (it died before the request was made)."""
    prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent_pid:
        os._exit(1)


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
