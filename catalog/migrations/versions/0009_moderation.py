"""moderation: the removed state, a video's moderation status and report count, user roles, soft-deleted
comments, reports, the append-only audit log of moderation actions, appeals, and takedown purges that keep
the origin's objects

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
STATES = "'uploading','processing','playable','ready','failed'"


def upgrade() -> None:
    op.drop_constraint("videos_state_valid", "videos", type_="check")
    op.create_check_constraint("videos_state_valid", "videos", f"state IN ({STATES},'removed')")
    op.add_column("videos", sa.Column("moderation", sa.String(16), nullable=False, server_default="clear"))
    op.create_check_constraint("videos_moderation_valid", "videos", "moderation IN ('clear','review','restricted')")
    op.add_column("videos", sa.Column("moderation_reason", sa.Text))
    op.add_column("videos", sa.Column("report_count", sa.Integer, nullable=False, server_default="0"))
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="user"))
    op.create_check_constraint("users_role_valid", "users", "role IN ('user','moderator','admin')")
    op.add_column("comments", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("pending_purges", sa.Column("keep_origin", sa.Boolean, nullable=False,
                                              server_default=sa.text("false")))

    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("reporter_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.String(32)),
        sa.UniqueConstraint("reporter_id", "target_kind", "target_id", name="reports_once"),
        sa.CheckConstraint("target_kind IN ('video','comment','user')", name="reports_target_kind"),
        sa.CheckConstraint("status IN ('open','resolved')", name="reports_status"),
        sa.CheckConstraint("char_length(note) <= 500", name="reports_note_length"),
    )
    op.create_index("ix_reports_open", "reports", ["target_kind", "target_id"],
                    postgresql_where=sa.text("status = 'open'"))

    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("moderator_id", sa.String(32)),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("previous_state", sa.String(16)),
        sa.Column("previous_moderation", sa.String(16)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_moderation_actions_target", "moderation_actions", ["target_kind", "target_id", "id"])
    # The audit log is append-only in the database itself, not only by convention in the code.
    op.execute("""
        CREATE FUNCTION moderation_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'moderation_actions is append-only'; END $$""")
    op.execute("""
        CREATE TRIGGER moderation_actions_append_only BEFORE UPDATE OR DELETE ON moderation_actions
        FOR EACH STATEMENT EXECUTE FUNCTION moderation_actions_append_only()""")

    op.create_table(
        "appeals",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("creator_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("removal_id", sa.BigInteger, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision_reason", sa.Text),
        sa.UniqueConstraint("removal_id", name="appeals_once_per_removal"),
        sa.CheckConstraint("status IN ('open','upheld','denied')", name="appeals_status"),
        sa.CheckConstraint("char_length(statement) BETWEEN 1 AND 1000", name="appeals_statement_length"),
    )
    op.create_index("ix_appeals_video_id", "appeals", ["video_id"])
    op.create_index("ix_appeals_open", "appeals", ["created_at"], postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_table("appeals")
    op.execute("DROP TRIGGER moderation_actions_append_only ON moderation_actions")
    op.execute("DROP FUNCTION moderation_actions_append_only()")
    op.drop_table("moderation_actions")
    op.drop_table("reports")
    op.drop_column("pending_purges", "keep_origin")
    op.drop_column("comments", "deleted_at")
    op.drop_constraint("users_role_valid", "users", type_="check")
    op.drop_column("users", "role")
    op.drop_column("videos", "report_count")
    op.drop_column("videos", "moderation_reason")
    op.drop_constraint("videos_moderation_valid", "videos", type_="check")
    op.drop_column("videos", "moderation")
    # A removed video comes back as failed (never served) rather than as what it was.
    op.execute("UPDATE videos SET state = 'failed', failure_code = 'removed' WHERE state = 'removed'")
    op.drop_constraint("videos_state_valid", "videos", type_="check")
    op.create_check_constraint("videos_state_valid", "videos", f"state IN ({STATES})")
