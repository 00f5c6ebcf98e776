"""Defaults for every setting; each ``MLAPI_<NAME>`` environment variable overrides ``<NAME>``."""
from __future__ import annotations

from pathlib import Path

# The checkout this package runs from (installed editable by `make install`):
# templates/, static/, data/ and artifacts/ sit beside src/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Config:
    """Safe defaults: embedded storage under the project, nothing to install."""

    ARTIFACTS_DIR = str(PROJECT_ROOT / "artifacts")
    DATA_DIR = str(PROJECT_ROOT / "data")
    DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'mlapi.db'}"
    MAX_BODY_BYTES = 6 * 1024 * 1024  # a full batch: 1,000 texts of 5,000 ASCII characters
    LOG_LEVEL = "INFO"


def sqlalchemy_url(url: str) -> str:
    """Map ``postgresql://`` to the installed psycopg 3 driver; leave others as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
