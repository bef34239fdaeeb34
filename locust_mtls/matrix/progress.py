"""What a matrix run shows while it works: a log of finished steps (one line each, kept)
above a one-line status bar redrawn in place on a terminal; plain lines in a log file.

A background ticker redraws the bar every second, so a long env build or a 60 s cell still
shows time passing. The bar is cut to the terminal's width (a wrapped line cannot be
redrawn); the log lines never are: they are what a reader scrolls back to.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable


class StatusLog:
    """Kept lines above one transient status line (`status` is a callable, redrawn)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.status: Callable[[], str] = lambda: ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def log(self, line: str) -> None:
        """A line that stays (a finished cell, an env built); the bar is redrawn below it."""
        with self._lock:
            if self.tty:
                self.stream.write(f"\r\033[K{line}\n")
                self._draw()
            else:
                self.stream.write(f"{line}\n")
            self.stream.flush()

    def show(self, status: Callable[[], str]) -> None:
        """Make `status()` the bar's text from now on (redrawn every second on a terminal)."""
        self.status = status
        self.redraw()
        if self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def redraw(self) -> None:
        with self._lock:
            self._draw()
            self.stream.flush()

    def _draw(self) -> None:
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write(f"\r\033[K{self.status()[:width]}")

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.redraw()

    def close(self) -> None:
        """Stop the ticker and clear the bar (the log above stays)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2)
            self._ticker = None
        if self.tty:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()


class Progress:
    """The cells of a matrix run: `[####    ] 3/20 cells | 1:02 elapsed | ETA 4:10 | now`."""

    def __init__(self, total: int, estimate_s: float, status_log: StatusLog | None = None):
        self.total, self.estimate_s, self.done = total, estimate_s, 0
        self.log = status_log or StatusLog()
        self.started = time.monotonic()
        self.current, self.current_started = "", time.monotonic()

    def start(self, label: str) -> None:
        """A cell starts: the bar names it and counts its seconds."""
        self.current, self.current_started = label, time.monotonic()
        self.log.show(self.line)
        if not self.log.tty:
            self.log.log(f"{self.done + 1}/{self.total} {label} ...")

    def finish(self, line: str) -> None:
        """A cell ended: its outcome goes to the log, the bar moves on."""
        self.done += 1
        took = clock(time.monotonic() - self.current_started)
        self.log.log(f"{self.done}/{self.total} {line} ({took})")
        self.current = ""

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        per_cell = elapsed / self.done if self.done else self.estimate_s
        filled = int(24 * self.done / max(self.total, 1))
        now = ""
        if self.current:
            now = f" | {clock(time.monotonic() - self.current_started)} {self.current}"
        return (
            f"[{'#' * filled:<24}] {self.done}/{self.total} cells | {clock(elapsed)} elapsed | "
            f"ETA {clock(per_cell * (self.total - self.done))}{now}"
        )

    def close(self) -> None:
        self.log.close()


class EnvStatus:
    """The bar while one environment is checked or built; one log line when it is ready."""

    def __init__(self, status_log: StatusLog, position: str, name: str):
        self.log, self.position, self.name = status_log, position, name
        self.step, self.built, self.started = "checking the cache", False, time.monotonic()
        self.log.show(self.line)

    def line(self) -> str:
        took = clock(time.monotonic() - self.started)
        return f"environments {self.position} | {took} | {self.name}: {self.step}"

    def on_step(self, text: str) -> None:
        """Envs.ensure's hook: a build step starts."""
        self.step, self.built = text, True
        self.log.redraw()

    def done(self) -> None:
        how = f"built in {clock(time.monotonic() - self.started)}" if self.built else "cached"
        self.log.log(f"env {self.position} {self.name}: {how}")


def clock(seconds: float) -> str:
    """'m:ss' (or 'h:mm:ss')."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
