"""automated reports: a report may come from a check (the ingest classifier) rather than a user

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # reporter_id NULL: filed by a check, named in the note; the unique (reporter, target) rule then does not
    # apply, and the code files at most one open automated report per target.
    op.alter_column("reports", "reporter_id", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM reports WHERE reporter_id IS NULL")
    op.alter_column("reports", "reporter_id", nullable=False)
