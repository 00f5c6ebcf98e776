"""Every use case mlapi serves, in the order the pages list them.

A new one is a package with a ``use_case`` (:class:`mlapi.usecase.UseCase`), listed here: its
prediction endpoint, page, OpenAPI operation, model card, metrics and log rows follow from it.
"""
from mlapi import demand, fraud, recommend, sentiment, xray

USE_CASES = (sentiment.use_case, recommend.use_case, xray.use_case, demand.use_case, fraud.use_case)
