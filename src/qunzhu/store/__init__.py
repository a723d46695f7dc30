"""The store: SQLAlchemy tables, Alembic migrations, bulk ingest and read queries."""
