"""PDQ fingerprints: one binary column on fingerprints and prohibited_media; the pHash columns become legacy

Rows written before this revision keep their pHash times and hashes (nullable from now on) and have no PDQ
fingerprint; the dedup engine skips them until they are fingerprinted again.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("fingerprints", "prohibited_media")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("pdq", sa.LargeBinary))
        op.alter_column(table, "times", existing_type=ARRAY(sa.REAL), nullable=True)
        op.alter_column(table, "hashes", existing_type=ARRAY(sa.BigInteger), nullable=True)


def downgrade() -> None:
    for table in TABLES:
        op.execute(sa.text(f"DELETE FROM {table} WHERE hashes IS NULL"))  # PDQ-only rows mean nothing to pHash
        op.alter_column(table, "hashes", existing_type=ARRAY(sa.BigInteger), nullable=False)
        op.alter_column(table, "times", existing_type=ARRAY(sa.REAL), nullable=False)
        op.drop_column(table, "pdq")
