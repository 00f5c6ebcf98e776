"""Every use case mlapi serves. A new one is a package with ``bp`` and ``use_case``, listed here."""
from mlapi import demand, recommend, sentiment

PACKAGES = (sentiment, recommend, demand)
USE_CASES = tuple(package.use_case for package in PACKAGES)
