"""The database: ``db`` (bound to the app in ``create_app``), its tables made or brought up to date."""
import sqlite3

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for mlapi's tables."""


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def tune_sqlite(connection, _record) -> None:
    """SQLite in WAL mode: readers never wait for the writer, and a commit needs no fsync.

    Workers write a little on every keyed request, so this keeps that cheap; a
    crash can lose the last commits of usage counts, never corrupt the file.
    """
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=10000")


def create_tables() -> None:
    """Create missing tables, and add the nullable columns a newer mlapi gave a table that exists already.

    ``create_all`` makes tables but never alters one, so a database made by an older mlapi would
    lack a new column; adding a nullable column loses nothing and needs no migration tool.
    """
    db.create_all()
    existing = inspect(db.engine)
    with db.engine.begin() as connection:
        for table in db.metadata.sorted_tables:
            present = {column["name"] for column in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=db.engine.dialect)
                    connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
