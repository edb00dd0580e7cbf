"""fingerprints for de-duplication; duplicate_of on videos

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fingerprints",
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("times", postgresql.ARRAY(sa.REAL), nullable=False),
        sa.Column("hashes", postgresql.ARRAY(sa.BigInteger), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("videos", sa.Column("duplicate_of", sa.String(32), sa.ForeignKey("videos.id", ondelete="SET NULL")))


def downgrade() -> None:
    op.drop_column("videos", "duplicate_of")
    op.drop_table("fingerprints")
