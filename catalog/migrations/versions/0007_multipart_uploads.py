"""the upload as registered on videos: declared size, multipart upload id and part size

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("videos", sa.Column("upload_size", sa.BigInteger))
    op.add_column("videos", sa.Column("upload_id", sa.Text))
    op.add_column("videos", sa.Column("upload_part_size", sa.BigInteger))


def downgrade() -> None:
    for name in ("upload_part_size", "upload_id", "upload_size"):
        op.drop_column("videos", name)
