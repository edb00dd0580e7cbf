"""sounds and social notifications: a ``sounds`` table, and actor, comment and de-duplication on notifications

``sounds`` gives ``videos.sound_id`` something to name: an original sound made at ingest from an upload's
audio (its first 60 s as an .m4a under the video's prefix), or a library sound. Every free-string sound id
already on a video becomes a library sound (title = the id, no audio), so the sound feed, trending sounds and
search keep finding them and ``GET /v1/sounds/{id}`` answers for them. ``videos.sound_id`` gets no foreign key:
bulk loaders (bench/) write free strings, and ``catalog.videos.create_video`` registers unknown ids as library
sounds itself.

``notifications`` gains ``actor_id`` (who followed, liked, commented or replied), ``comment_id`` and
``dedup_key`` with a partial unique index per user (one "liked your video" per liker and video however often
the like is toggled), and a partial index over unread rows for the badge's count. ``comments.parent_id``
(replies) exists since 0006.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sounds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("creator_id", sa.String(32), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("original_video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE")),
        sa.Column("audio_key", sa.Text),
        sa.Column("duration_s", sa.REAL),
        sa.Column("reusable", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("kind IN ('original','library')", name="sounds_kind"),
    )
    op.create_index("ix_sounds_original_video", "sounds", ["original_video_id"], unique=True,
                    postgresql_where=sa.text("original_video_id IS NOT NULL"))
    op.create_index("ix_sounds_creator", "sounds", ["creator_id"])
    # The free strings in use become library sounds, dated by their first use.
    op.execute("INSERT INTO sounds (id, title, kind, created_at) "
               "SELECT sound_id, sound_id, 'library', min(created_at) FROM videos WHERE sound_id IS NOT NULL "
               "GROUP BY sound_id ON CONFLICT DO NOTHING")

    op.add_column("notifications", sa.Column("actor_id", sa.String(32),
                                             sa.ForeignKey("users.id", ondelete="CASCADE")))
    op.add_column("notifications", sa.Column("comment_id", sa.BigInteger,
                                             sa.ForeignKey("comments.id", ondelete="CASCADE")))
    op.add_column("notifications", sa.Column("dedup_key", sa.Text))
    op.create_index("ix_notifications_dedup", "notifications", ["user_id", "dedup_key"], unique=True,
                    postgresql_where=sa.text("dedup_key IS NOT NULL"))
    op.create_index("ix_notifications_unread", "notifications", ["user_id", "id"],
                    postgresql_where=sa.text("read_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_notifications_unread", table_name="notifications")
    op.drop_index("ix_notifications_dedup", table_name="notifications")
    for column in ("dedup_key", "comment_id", "actor_id"):
        op.drop_column("notifications", column)
    op.drop_table("sounds")
