"""Every use case mlapi serves. A new one is a package with ``bp`` and ``use_case``, listed here."""
from mlapi import demand, fraud, recommend, sentiment, xray

PACKAGES = (sentiment, recommend, xray, demand, fraud)
USE_CASES = tuple(package.use_case for package in PACKAGES)
