"""Extensions, created unbound here and bound to the app in ``create_app``."""
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for mlapi's tables."""


db = SQLAlchemy(model_class=Base)
