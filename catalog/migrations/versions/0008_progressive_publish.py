"""progressive publish: the playable state, when a video first became watchable, its status events and the
creator's notifications

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
SERVABLE = "state IN ('playable','ready') AND deleted_at IS NULL AND privacy = 'public'"


def upgrade() -> None:
    op.drop_constraint("videos_state_valid", "videos", type_="check")
    op.create_check_constraint("videos_state_valid", "videos",
                               "state IN ('uploading','processing','playable','ready','failed')")
    op.add_column("videos", sa.Column("playable_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE videos SET playable_at = ready_at WHERE ready_at IS NOT NULL")
    op.drop_index("ix_videos_servable", "videos")
    op.create_index("ix_videos_servable", "videos", ["playable_at", "id"], postgresql_where=sa.text(SERVABLE))
    op.drop_index("ix_videos_creator_ready", "videos")
    op.create_index("ix_videos_creator_playable", "videos", ["creator_id", "playable_at"])

    op.create_table(
        "video_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("run_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_video_events_video", "video_events", ["video_id", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE")),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("read_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("video_events")
    op.drop_index("ix_videos_creator_playable", "videos")
    op.create_index("ix_videos_creator_ready", "videos", ["creator_id", "ready_at"])
    op.drop_index("ix_videos_servable", "videos")
    op.create_index("ix_videos_servable", "videos", ["ready_at", "id"],
                    postgresql_where=sa.text("state = 'ready' AND deleted_at IS NULL AND privacy = 'public'"))
    op.drop_column("videos", "playable_at")
    op.execute("UPDATE videos SET state = 'processing' WHERE state = 'playable'")
    op.drop_constraint("videos_state_valid", "videos", type_="check")
    op.create_check_constraint("videos_state_valid", "videos", "state IN ('uploading','processing','ready','failed')")
