"""the prohibited-media list: fingerprints of media no upload may match (ingest rejects as prohibited)

Revision ID: 0011
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0011"
down_revision = "0009"  # after moderation (0009); was 0008 on main before the merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prohibited_media",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("times", ARRAY(sa.REAL), nullable=False),
        sa.Column("hashes", ARRAY(sa.BigInteger), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        # Where the entry came from: a taken-down video (kept even if the video is later deleted) or a file.
        sa.Column("source_video_id", sa.String(32)),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    op.drop_table("prohibited_media")
