"""videos and renditions

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("creator_id", sa.String(64), index=True),
        sa.Column("caption", sa.Text, nullable=False, server_default=""),
        sa.Column("hashtags", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("failure_code", sa.String(64)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("raw_key", sa.Text, nullable=False),
        sa.Column("source", postgresql.JSONB),
        sa.Column("publish_prefix", sa.Text),
        sa.Column("master_key", sa.Text),
        sa.Column("pipeline_run_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upload_completed_at", sa.DateTime(timezone=True)),
        sa.Column("processing_started_at", sa.DateTime(timezone=True)),
        sa.Column("ready_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state IN ('uploading','processing','ready','failed')", name="videos_state_valid"),
    )
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("codecs", sa.String(64), nullable=False),
        sa.Column("encoder", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False, server_default="0"),
        sa.Column("height", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bandwidth", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("average_bandwidth", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("playlist_key", sa.Text, nullable=False),
        sa.UniqueConstraint("video_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("renditions")
    op.drop_table("videos")
