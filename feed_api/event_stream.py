"""Server-Sent Events framing (the WHATWG ``text/event-stream`` format): pure functions, no I/O.

An event is ``id:``, ``event:`` and ``data:`` lines ended by a blank line; a line starting with ``:`` is a
comment that clients ignore (our keep-alive); ``retry:`` sets how long a client waits before reconnecting.
"""

from __future__ import annotations

import json
from datetime import datetime

MEDIA_TYPE = "text/event-stream"


def _one_line(name: str, value: str) -> str:
    # A CR or LF inside a field would end it early and let the rest be read as other fields.
    if "\r" in value or "\n" in value:
        raise ValueError(f"an SSE {name} field must be one line: {value!r}")
    return value


def format_event(event_id: int | str | None, kind: str, data: dict) -> str:
    """One event. ``data`` is JSON; a JSON text never holds a raw newline, but a ``data:`` line is written per
    line anyway so any text stays one event. ``event_id`` None: no ``id:`` line, so the client's last event id
    (what it resumes from) stays what it was."""
    lines = [f"id: {_one_line('id', str(event_id))}"] if event_id is not None else []
    lines.append(f"event: {_one_line('event', kind)}")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    lines += [f"data: {line}" for line in text.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def payload(*, video_id: str, kind: str, at: datetime, detail: dict | None) -> dict:
    """The ``data`` of one status event."""
    return {"kind": kind, "video_id": video_id, "at": at.isoformat(), "detail": detail or {}}


def comment(text: str = "") -> str:
    """A comment line: keeps proxies and clients from timing the connection out, and is never an event."""
    return f": {_one_line('comment', text)}\n\n" if text else ":\n\n"


def retry(ms: int) -> str:
    """How long the client waits before reconnecting after the stream ends or breaks."""
    return f"retry: {int(ms)}\n\n"
