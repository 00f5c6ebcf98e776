"""Entry point for gunicorn: ``gunicorn wsgi:app``."""
from mlapi import create_app

app = create_app()
