"""The system of record: SQLAlchemy models, Alembic migrations and repository functions."""
