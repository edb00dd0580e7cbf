"""accounts: passwords, session versions, profiles (bio, avatar) on users; refresh tokens

Every column added to ``users`` is nullable or has a constant default, so PostgreSQL adds it without
rewriting the table. Existing accounts get no password (they keep working through tokens they hold and can
set one with ``POST /v1/me/password``) and session version 0, which access tokens without an ``sv`` claim
count as.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text))
    op.add_column("users", sa.Column("session_version", sa.Integer, nullable=False, server_default="0"))
    op.add_column("users", sa.Column("bio", sa.Text, nullable=False, server_default=""))
    op.add_column("users", sa.Column("avatar_key", sa.Text))
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("family_id", sa.String(32), nullable=False, index=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("replaced_by", sa.BigInteger),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("user_agent", sa.String(256)),
    )


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    for column in ("avatar_key", "bio", "session_version", "password_hash"):
        op.drop_column("users", column)
