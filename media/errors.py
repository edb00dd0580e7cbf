"""The one error type media operations raise for bad input."""

from __future__ import annotations


class MediaError(Exception):
    """An upload that cannot become a video.

    ``code`` is stable and machine-readable (stored in the catalog, counted in metrics);
    ``message`` is the sentence a creator sees.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}"
