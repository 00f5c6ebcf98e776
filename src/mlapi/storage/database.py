"""Extensions, created unbound here and bound to the app in ``create_app``."""
import sqlite3

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
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
