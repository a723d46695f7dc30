"""Alembic runs migrations on the engine the store hands it, never on a URL from a config file."""

from alembic import context

from qunzhu.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
