"""Alembic's environment for the state database.

The program runs the revisions on its own connection (``store/schema.py`` passes it in
``config.attributes["connection"]``, inside its transaction and, on PostgreSQL, its advisory
lock). The ``alembic`` command (``alembic.ini`` at the top of the repository: ``alembic check``
in ``.ci/run``, ``alembic revision --autogenerate``) connects to ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from newsletter.store.tables import UTCDateTime, metadata

# Tables in the same database that are not ours: APScheduler's job stores.
FOREIGN_PREFIXES = ("apscheduler_",)


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_PREFIXES))


def render_item(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    # A revision writes the column type out as the database sees it.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters a table by copying it: batch mode does that
        include_name=include_name,
        render_item=render_item,
        compare_type=True,
        **options,
    )


def run(connection: sa.Connection) -> None:
    # SQLite runs DDL in a transaction like anything else: the whole upgrade commits or not.
    _configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    if context.config.config_file_name is not None:  # the alembic command: its log lines
        fileConfig(context.config.config_file_name)
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():  # alembic upgrade --sql: print the DDL
        _configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(str(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
