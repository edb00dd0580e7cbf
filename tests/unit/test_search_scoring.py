"""The pure parts of search and discovery: query parsing and tsquery text, ranking, trends, related videos,
suggested creators."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from catalog.migrate import MIGRATIONS
from catalog.models import DISCOVERABLE_SQL
from recommend import related, search_rank, trends
from recommend.creator_suggestions import creator_scores
from recommend.search_query import QueryProblem, Word, parse, term_key, tsquery_text


# ------------------------------------------------------------------------------------------- the query
def test_words_are_runs_of_letters_and_digits_and_the_last_is_a_prefix_while_typed():
    q = parse("Funny  CATS & dogs|(x2)")
    assert [w.text for w in q.words] == ["funny", "cats", "dogs", "x2"]
    assert [w.prefix for w in q.words] == [False, False, False, False]  # ends in ")": the word is finished
    assert parse("funny ca").words[-1] == Word("ca", prefix=True)
    assert parse("funny ca ").words[-1] == Word("ca")
    assert parse("funny ca", as_you_type=False).words[-1] == Word("ca")
    assert parse("#Funny_Cats").words == (Word("funny", tag=True), Word("cats", prefix=True))
    assert parse("ＣＡＴＳ").words == (Word("cats", prefix=True),)  # full-width letters fold (NFKC)
    assert parse("Straße ").words == (Word("strasse"),)  # casefold, not lower
    assert parse("日本語 テスト").words == (Word("日本語"), Word("テスト", prefix=True))


def test_a_word_twice_is_searched_once():
    assert parse("cats cats dogs ").words == (Word("cats"), Word("dogs"))
    assert parse("cats cats").words == (Word("cats"), Word("cats", prefix=True))  # the second is being typed


def test_the_bitmap_plan_is_chosen_below_sqrt_limit_times_catalog_matches():
    from catalog.search import bitmap_is_cheaper

    n = 1_000_000  # equal at sqrt(200 x 1e6) ~ 14k matches
    assert bitmap_is_cheaper([5_000], n, 200) and not bitmap_is_cheaper([50_000], n, 200)
    # Two common words together are rare: 10 % x 5 % of a million is 5,000.
    assert bitmap_is_cheaper([100_000, 50_000], n, 200)
    assert bitmap_is_cheaper([0], n, 200)  # a word no video has: nothing to walk for
    assert bitmap_is_cheaper([float("inf")], -1, 200)  # never analysed: a small catalog


def test_more_than_eight_words_keep_the_first_eight_none_a_prefix():
    q = parse(" ".join(f"w{i}" for i in range(12)))
    assert len(q.words) == 8 and not any(w.prefix for w in q.words)


@pytest.mark.parametrize("q, problem", [("", "at least 2"), ("  ", "at least 2"), ("a", "at least 2"),
                                        ("&|!:*()'", "at least 2"), ("x" * 101, "at most 100"),
                                        ("ab\x00c", "NUL")])
def test_unsearchable_queries_say_why(q, problem):
    with pytest.raises(QueryProblem, match=problem):
        parse(q)


def test_tsquery_text_holds_no_syntax_from_the_user():
    words = parse("it's a:b & !c | (d) '*").words
    text = tsquery_text(words)
    assert text == "'it' & 's' & 'a' & 'b' & 'c' & 'd'"
    assert tsquery_text(parse("#cats fun").words) == "'cats':A & 'fun':*"


def test_corrections_are_alternatives_of_whole_words():
    words = parse("kiten fluf").words
    assert tsquery_text(words, {0: ["kitten", "kitsen"], 1: ["fluff"]}) == \
        "('kiten' | 'kitten' | 'kitsen') & ('fluf':* | 'fluff')"
    assert tsquery_text(parse("#kiten ").words, {0: ["kitten"]}) == "('kiten':A | 'kitten':A)"


def test_term_keys_keep_what_hashtags_and_sound_ids_are_made_of():
    assert term_key("#Funny_Cats!") == "funny_cats"
    assert term_key("Artist:Song-1.0", keep=".:-") == "artist:song-1.0"
    with pytest.raises(QueryProblem):
        term_key("#!")


def test_the_discoverable_predicate_is_the_one_the_migration_froze_in_its_indexes():
    # The partial search indexes are used only for queries whose WHERE implies their predicate.
    spec = importlib.util.spec_from_file_location("m0015", MIGRATIONS / "versions" / "0015_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DISCOVERABLE == DISCOVERABLE_SQL


# ------------------------------------------------------------------------------------------- ranking
def test_relevance_gates_and_popularity_and_freshness_grow_it_by_bounded_factors():
    s = search_rank.video_scores(np.array([1.0, 0.4, 0.4, 0.4, 0.0]), np.array([True] * 4 + [True]),
                                 np.array([0, 0, 1e6, 0, 1e9]), np.array([1e4, 1e4, 1e4, 0, 0]))
    assert s[4] == 0  # no text match: nothing, however viral
    assert s[2] > s[0] > s[1]  # a viral caption match beats an obscure hashtag match
    assert s[3] > s[1]  # fresher wins at equal relevance
    assert s[2] / s[1] < 4  # but popularity is logarithmic: a million views is ~3x, not a million
    typo = search_rank.video_scores(np.array([1.0, 1.0]), np.array([True, False]), np.zeros(2), np.zeros(2))
    assert typo[1] == pytest.approx(0.6 * typo[0])
    assert search_rank.video_scores(np.array([]), np.array([]), np.array([]), np.array([])).size == 0


def test_a_name_that_starts_with_the_query_matches_strongly_growing_to_one():
    m = search_rank.text_match(np.array([0.1, 0.1, 0.5]), ["alice", "alicexyz", "bob"], "alice")
    assert m[0] == 1.0 and 0.8 < m[1] < 1.0 and m[2] == 0.5


def test_people_rank_by_match_then_followers():
    s = search_rank.user_scores(np.array([1.0, 0.5, 1.0]), np.array([0, 10_000, 100]))
    assert s[2] > s[0] > s[1]


def test_ranked_is_stable_by_id_on_ties():
    assert search_rank.ranked(np.array([1.0, 2.0, 1.0]), ["b", "c", "a"]) == [1, 2, 0]
    assert search_rank.ranked(np.array([]), []) == []


# ------------------------------------------------------------------------------------------- trends
def test_trends_decay_with_age_weigh_what_people_did_and_need_two_people():
    rows = dict(keys=["a", "a", "b", "c", "d"], kinds=["like", "view_start", "like", "like", "share"],
                age_h=np.array([1.0, 30.0, 13.0, 60.0, 1.0]), users=np.array([2, 10, 2, 50, 1]))
    out = trends.trend_scores(**rows, window_users={"a": 11, "b": 2, "c": 50, "d": 1})
    assert [t.key for t in out] == ["a", "b"]  # c is outside the 48 h window, d is one person
    # a: 3*2*2^(-1/6) + 1*10*2^(-30/6); b: 3*2*2^(-13/6)
    assert out[0].score == pytest.approx(6 * 2 ** (-1 / 6) + 10 * 2 ** -5)
    assert out[1].score == pytest.approx(6 * 2 ** (-13 / 6)) and out[0].users == 11
    assert trends.trend_scores([], [], np.array([]), np.array([]), {}) == []


# ------------------------------------------------------------------------------------------- related
def test_co_engagement_is_the_cosine_of_fan_sets():
    co = related.co_engagement(np.array([4, 4, 1]), 4, np.array([4, 400, 0]))
    assert co[0] == pytest.approx(1.0) and co[1] == pytest.approx(0.1) and co[2] == pytest.approx(0.5)


def test_content_similarity_is_zero_without_vectors():
    src = np.array([1.0, 0.0])
    mat = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float32)
    sim = related.content_similarity(src, mat, np.array([True, True, False]))
    assert sim.tolist() == [1.0, 0.0, 0.0]
    assert related.content_similarity(None, mat, np.ones(3, bool)).tolist() == [0, 0, 0]
    assert related.content_similarity(np.ones(3), mat, np.ones(3, bool)).tolist() == [0, 0, 0]  # other model


def test_a_creator_takes_at_most_two_places_ahead_of_the_rest():
    assert related.capped([0, 1, 2, 3, 4], ["a", "a", "a", "b", None], 2) == [0, 1, 3, 4, 2]
    scores = related.related_scores(np.array([0.9, 0.0]), np.array([0.0, 0.9]), np.array([0, 0]))
    assert scores[1] > scores[0]  # taste over looks


# ------------------------------------------------------------------------------------------- creators
def test_creator_suggestions_say_why():
    scores, reasons = creator_scores(np.array([3, 0, 0, 0]), np.array([10, 50_000, 10, 10]),
                                     np.array([False, True, False, False]), np.array([0, 0, 5, 0]),
                                     np.array([0, 0, 0, 10_000]))
    assert reasons == ["followed_by_people_you_follow", "popular_in_your_region", "posts_your_interests",
                       "trending_now"]
    assert scores.argmax() == 1
    empty, none = creator_scores(np.array([]), np.array([]), np.array([]), np.array([]), np.array([]))
    assert empty.size == 0 and none == []
