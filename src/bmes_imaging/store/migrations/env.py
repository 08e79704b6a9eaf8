"""Alembic environment of the bmes-imaging store.

Run programmatically by :func:`bmes_imaging.store._engine.run_migrations`, which passes
an open connection in ``config.attributes["connection"]``. Without one (developer use:
``alembic -x url=sqlite:///path upgrade head``), an engine is made from ``-x url=``.
"""

from __future__ import annotations

from alembic import context

from bmes_imaging.store._models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the migrations on the given (or a new) connection."""
    connection = config.attributes.get("connection")
    if connection is None:
        from bmes_imaging.store._engine import make_engine, resolve_url

        url = context.get_x_argument(as_dictionary=True).get("url")
        # the label-map move (0003) reads the annotation folder: -x annotations=DIR
        engine = make_engine(resolve_url(url))
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        engine.dispose()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run online")
run_migrations_online()
