"""per-step processing times on videos

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("step_seconds", postgresql.JSONB, nullable=False,
                                      server_default=sa.text("'{}'::jsonb")))


def downgrade() -> None:
    op.drop_column("videos", "step_seconds")
