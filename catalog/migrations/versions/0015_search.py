"""search: a weighted tsvector and a popularity-and-recency key on videos, trigram indexes on users, a term dictionary

Videos get two generated columns: ``search_doc`` (hashtags weighted A, the caption B, the ``simple``
configuration: no stemming, no stop words, so any language is indexed the same way) and ``search_hot`` (the
candidate order: log2 of engagement in half-octave steps plus age in units of a 72-hour half-life, which
orders rows as popularity x 2^(-age/72 h) would at any moment without changing as time passes). Both get an
index over discoverable videos only (servable, not deleted, public, clear with moderation), the only ones
search returns. ``search_terms`` holds the words, hashtags and sounds of discoverable videos with their
document counts (rebuilt by the ``refresh_search`` DAG), trigram-indexed for typo correction and completion.

Adding the generated columns rewrites ``videos`` under an exclusive lock; see docs/search.md for doing it
online on a large table.

Revision ID: 0015
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

# Frozen here as the catalog stood at this revision (catalog.search.DISCOVERABLE_SQL must stay equal to it, or
# the planner cannot prove its queries fall inside the partial indexes).
DISCOVERABLE = ("state IN ('playable', 'ready') AND deleted_at IS NULL AND privacy = 'public' "
                "AND moderation = 'clear'")

KINDS = ("word", "tag", "sound")

FUNCTIONS = [
    # array_to_string is STABLE in general (it calls element output functions); for text[] it is immutable,
    # which a generated column needs, hence the wrapper.
    """CREATE FUNCTION reelflow_search_doc(caption text, tags text[]) RETURNS tsvector
       LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
         SELECT setweight(to_tsvector('simple'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'A')
             || setweight(to_tsvector('simple'::regconfig, coalesce(caption, '')), 'B')
       $$""",
    # extract(epoch FROM timestamptz) is STABLE only because other fields depend on the time zone; the epoch
    # does not. Half-octave popularity buckets: a counter flush changes the key (and so the index entry, which
    # rules out a HOT update) only when a video's engagement grows by 41 %, not on every flush.
    """CREATE FUNCTION reelflow_search_hot(views bigint, likes bigint, comments bigint, shares bigint,
                                           watchable_at timestamptz) RETURNS double precision
       LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
         SELECT floor(2 * ln((2 + greatest(views + 3 * likes + 2 * comments + 5 * shares, 0))::float8)
                      / ln(2.0::float8)) / 2
              + extract(epoch FROM watchable_at)::float8 / (72 * 3600)
       $$""",
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # trusted since PostgreSQL 13: the database owner may
    for fn in FUNCTIONS:
        op.execute(fn)
    op.add_column("videos", sa.Column("search_doc", postgresql.TSVECTOR,
                                      sa.Computed("reelflow_search_doc(caption, tag_keys)", persisted=True)))
    op.add_column("videos", sa.Column("search_hot", sa.Float, sa.Computed(
        "reelflow_search_hot(view_count, like_count, comment_count, share_count, coalesce(playable_at, created_at))",
        persisted=True)))
    op.create_index("ix_videos_search_doc", "videos", ["search_doc"], postgresql_using="gin",
                    postgresql_where=sa.text(DISCOVERABLE))
    op.create_index("ix_videos_search_hot", "videos", [sa.text("search_hot DESC")],
                    postgresql_where=sa.text(DISCOVERABLE))

    op.create_index("ix_users_handle_trgm", "users", ["handle"], postgresql_using="gin",
                    postgresql_ops={"handle": "gin_trgm_ops"})
    op.create_index("ix_users_display_name_trgm", "users", ["display_name"], postgresql_using="gin",
                    postgresql_ops={"display_name": "gin_trgm_ops"})

    op.create_table(
        "search_terms",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("term", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("ndoc", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("kind", "term"),
        sa.CheckConstraint("kind IN ('word', 'tag', 'sound')", name="search_terms_kind"),
    )
    # GiST rather than GIN here: measured on a 47k-term dictionary of a 100k-video catalog, a typo look-up took
    # 5 ms through GiST against 16 ms through GIN (long posting lists of common trigrams) and 79 ms scanning.
    # One per kind: a hashtag look-up searched the words' and sounds' trigrams too (6.5 ms for 18 candidates).
    # On lower(term), though terms are lower case already: pg_trgm's opclass also serves "=", and the planner
    # took it over the primary key for exact look-ups (1.6 ms against 0.05 ms); an expression index serves
    # only queries written with the expression (catalog.search.TRIGRAM_KEY).
    for kind in KINDS:
        op.execute(f"CREATE INDEX ix_search_terms_trgm_{kind} ON search_terms USING gist (lower(term) gist_trgm_ops) "
                   f"WHERE kind = '{kind}'")
    # Completion of a prefix as typed, in any collation: text_pattern_ops compares bytes.
    op.create_index("ix_search_terms_prefix", "search_terms", ["kind", sa.text("term text_pattern_ops")])


def downgrade() -> None:
    op.drop_table("search_terms")
    op.drop_index("ix_users_display_name_trgm", table_name="users")
    op.drop_index("ix_users_handle_trgm", table_name="users")
    op.drop_index("ix_videos_search_hot", table_name="videos")
    op.drop_index("ix_videos_search_doc", table_name="videos")
    op.drop_column("videos", "search_hot")
    op.drop_column("videos", "search_doc")
    op.execute("DROP FUNCTION reelflow_search_hot(bigint, bigint, bigint, bigint, timestamptz)")
    op.execute("DROP FUNCTION reelflow_search_doc(text, text[])")
    # pg_trgm stays: other schemas in the database may use it, and keeping it costs nothing.
