"""users, social graph, interactions log, live-counter totals, privacy and tombstones on videos

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("handle", sa.String(32), nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("region", sa.String(8), nullable=False, server_default="global"),
        sa.Column("interests", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )

    # Videos: creator becomes a reference to users (uploads before this revision had none).
    op.execute("UPDATE videos SET creator_id = NULL WHERE creator_id IS NOT NULL")
    op.alter_column("videos", "creator_id", type_=sa.String(32))
    op.create_foreign_key("videos_creator_fk", "videos", "users", ["creator_id"], ["id"], ondelete="SET NULL")
    op.add_column("videos", sa.Column("tag_keys", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"))
    op.execute("UPDATE videos SET tag_keys = ARRAY(SELECT lower(t) FROM unnest(hashtags) AS t)")
    op.add_column("videos", sa.Column("privacy", sa.String(16), nullable=False, server_default="public"))
    op.create_check_constraint("videos_privacy_valid", "videos", "privacy IN ('public','followers','private')")
    op.add_column("videos", sa.Column("sound_id", sa.String(64)))
    op.add_column("videos", sa.Column("category", sa.String(32)))
    op.add_column("videos", sa.Column("region", sa.String(8)))
    op.add_column("videos", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    for name in ("view_count", "like_count", "comment_count", "share_count", "watch_ms_total", "completions"):
        op.add_column("videos", sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_videos_sound_id", "videos", ["sound_id"])
    op.create_index("ix_videos_creator_ready", "videos", ["creator_id", "ready_at"])
    op.create_index("ix_videos_tag_keys", "videos", ["tag_keys"], postgresql_using="gin")
    op.create_index("ix_videos_servable", "videos", ["ready_at", "id"],
                    postgresql_where=sa.text("state = 'ready' AND deleted_at IS NULL AND privacy = 'public'"))

    def user_fk(name: str) -> sa.Column:
        return sa.Column(name, sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)

    def video_fk() -> sa.Column:
        return sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False)

    created = lambda: sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW)  # noqa: E731

    op.create_table("follows", user_fk("follower_id"), user_fk("followee_id"), created(),
                    sa.PrimaryKeyConstraint("follower_id", "followee_id"),
                    sa.CheckConstraint("follower_id <> followee_id", name="follows_not_self"))
    op.create_index("ix_follows_followee", "follows", ["followee_id"])
    op.create_table("blocks", user_fk("blocker_id"), user_fk("blocked_id"), created(),
                    sa.PrimaryKeyConstraint("blocker_id", "blocked_id"))
    op.create_index("ix_blocks_blocked", "blocks", ["blocked_id"])
    op.create_table("likes", user_fk("user_id"), video_fk(), created(), sa.PrimaryKeyConstraint("user_id", "video_id"))
    op.create_index("ix_likes_video", "likes", ["video_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        video_fk(), user_fk("user_id"),
        sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("comments.id", ondelete="CASCADE")),
        sa.Column("body", sa.Text, nullable=False),
        created(),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 500", name="comments_body_length"),
    )
    op.create_index("ix_comments_video", "comments", ["video_id", "id"])
    op.create_index("ix_comments_parent", "comments", ["parent_id", "id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        user_fk("user_id"), video_fk(),
        sa.Column("channel", sa.String(32), nullable=False, server_default="link"),
        created(),
    )
    op.create_index("ix_shares_video", "shares", ["video_id"])
    op.create_table(
        "not_interested", user_fk("user_id"),
        sa.Column("kind", sa.String(16), nullable=False), sa.Column("value", sa.String(64), nullable=False), created(),
        sa.PrimaryKeyConstraint("user_id", "kind", "value"),
        sa.CheckConstraint("kind IN ('creator','tag')", name="not_interested_kind"),
    )
    op.create_table(
        "interaction_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("video_id", sa.String(32)),
        sa.Column("session_id", sa.String(32)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("watch_ms", sa.Integer),
        sa.Column("progress", sa.REAL),
        sa.Column("counted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("extra", postgresql.JSONB),
    )
    op.create_index("ix_events_video_time", "interaction_events", ["video_id", "occurred_at"])
    op.create_index("ix_events_user_time", "interaction_events", ["user_id", "occurred_at"])
    op.create_index("ix_events_time", "interaction_events", ["occurred_at"])
    op.create_table(
        "pending_purges",
        sa.Column("video_id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    for table in ("pending_purges", "interaction_events", "not_interested", "shares", "comments", "likes", "blocks",
                  "follows"):
        op.drop_table(table)
    for index in ("ix_videos_servable", "ix_videos_tag_keys", "ix_videos_creator_ready", "ix_videos_sound_id"):
        op.drop_index(index, table_name="videos")
    for name in ("completions", "watch_ms_total", "share_count", "comment_count", "like_count", "view_count",
                 "deleted_at", "region", "category", "sound_id"):
        op.drop_column("videos", name)
    op.drop_constraint("videos_privacy_valid", "videos")
    for name in ("privacy", "tag_keys"):
        op.drop_column("videos", name)
    op.drop_constraint("videos_creator_fk", "videos", type_="foreignkey")
    op.alter_column("videos", "creator_id", type_=sa.String(64))
    op.drop_table("users")
