"""The dedup quality table's counting: recall per edit, precision over every pair, hard negatives apart."""

from __future__ import annotations

from media.dedup_eval import Confusion, Judged, by, confusion


def test_confusion_counts_each_outcome_once():
    pairs = [Judged("mirror", "copy", True, True), Judged("mirror", "copy", True, False),
             Judged("crf42", "copy", True, True), Judged("crf42", "same_camera", False, True),
             Judged("crf42", "different", False, False), Judged("crf42", "different", False, False)]
    c = confusion(pairs)
    assert c == Confusion(tp=2, fp=1, fn=1, tn=2)
    assert c.recall == 2 / 3 and c.precision == 2 / 3


def test_groups_by_edit_and_by_kind():
    pairs = [Judged("mirror", "copy", True, False), Judged("caption", "copy", True, True),
             Judged("caption", "same_overlay", False, True), Judged("mirror", "different", False, False)]
    per_edit = by(pairs, lambda p: p.edit)
    assert list(per_edit) == ["mirror", "caption"]  # first-seen order, so the table follows the corpus
    assert per_edit["mirror"].recall == 0.0 and per_edit["mirror"].precision is None
    assert per_edit["caption"].recall == 1.0 and per_edit["caption"].precision == 0.5
    per_kind = by(pairs, lambda p: p.kind)
    assert per_kind["same_overlay"].fp == 1 and per_kind["different"].tn == 1
    assert per_edit["mirror"] + per_edit["caption"] == confusion(pairs)


def test_nothing_to_find_or_nothing_found_is_undefined_not_zero():
    assert Confusion().recall is None and Confusion().precision is None
    assert Confusion(tn=5).recall is None
