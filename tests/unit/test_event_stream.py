"""Server-Sent Events framing (feed_api/event_stream.py): pure functions, checked against the format's rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feed_api import event_stream as sse


def parse(text: str) -> list[dict[str, list[str]]]:
    """A small reader of the WHATWG event-stream format: blocks split on a blank line, fields on the first colon
    (one optional space after it), comment lines dropped."""
    blocks = []
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if fields:
            blocks.append(fields)
    return blocks


def test_an_event_is_id_event_and_one_json_data_line_ended_by_a_blank_line():
    data = sse.payload(video_id="ab" * 8, kind="rejected", at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
                       detail={"code": "duplicate", "reason": "same as\nvideo x"})
    text = sse.format_event(42, "rejected", data)
    assert text.startswith("id: 42\nevent: rejected\ndata: {") and text.endswith("}\n\n")
    assert text.count("\n\n") == 1  # a newline inside a value stays escaped in the JSON: still one event
    [event] = parse(text)
    assert event["id"] == ["42"] and event["event"] == ["rejected"]
    assert json.loads("\n".join(event["data"])) == {
        "kind": "rejected", "video_id": "ab" * 8, "at": "2025-01-02T03:04:05+00:00",
        "detail": {"code": "duplicate", "reason": "same as\nvideo x"}}


def test_payload_without_detail_gives_an_empty_object():
    at = datetime(2025, 1, 1, tzinfo=UTC)
    assert sse.payload(video_id="v", kind="processing", at=at, detail=None)["detail"] == {}


@pytest.mark.parametrize("kind", ["ready\ndata: forged", "ready\r"])
def test_a_field_with_a_line_break_is_refused(kind):
    with pytest.raises(ValueError, match="one line"):
        sse.format_event(1, kind, {})
    with pytest.raises(ValueError, match="one line"):
        sse.format_event(kind, "ready", {})


def test_comments_and_retry_are_not_events():
    text = sse.retry(1500) + sse.comment("keep-alive") + sse.comment() + sse.format_event(1, "ready", {})
    assert text.startswith("retry: 1500\n\n: keep-alive\n\n:\n\n")
    assert [b.get("event") for b in parse(text)] == [None, ["ready"]]  # the retry block carries no event
    with pytest.raises(ValueError):
        sse.comment("two\nlines")


def test_non_ascii_and_non_json_values_survive():
    at = datetime(2025, 1, 1, tzinfo=UTC)
    [event] = parse(sse.format_event(7, "failed", {"reason": "café", "at": at}))
    assert json.loads(event["data"][0]) == {"reason": "café", "at": "2025-01-01 00:00:00+00:00"}
