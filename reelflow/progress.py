"""A one-line progress bar on stderr, no dependency: redrawn in place on a terminal, a line per step otherwise
(logs and CI output stay readable)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30, step_pct: int = 10) -> None:
        self.label, self.width, self.step_pct = label, width, step_pct
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last: int | None = None  # percent last drawn
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        if pct == self._last or (not self.tty and self._last is not None and pct < 100
                                 and pct // self.step_pct == self._last // self.step_pct):
            return
        self._last = pct
        filled = self.width * pct // 100
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% "
                f"{done / 2**20:.1f}/{total / 2**20:.1f} MiB")
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
