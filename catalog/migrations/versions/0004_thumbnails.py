"""poster and scrub-sprite keys on videos

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("poster_key", sa.Text))
    op.add_column("videos", sa.Column("sprite_vtt_key", sa.Text))


def downgrade() -> None:
    op.drop_column("videos", "sprite_vtt_key")
    op.drop_column("videos", "poster_key")
