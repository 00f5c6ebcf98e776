"""Train a use case and save it as the next version in the registry."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from mlapi import catalog
from mlapi.config import Config
from mlapi.serving.registry import Registry
from mlapi.usecase import Step, no_progress


def json_schema(schema: type[Schema]) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.1 dialect) of a marshmallow schema, nested schemas inlined."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda _: None)
    APISpec("mlapi", "1", "3.1.0", plugins=[plugin])
    return plugin.converter.schema2jsonschema(schema)


def train_use_case(
    registry: Registry, name: str, data_dir: Path, sample: float = 1.0, step: Step = no_progress
) -> dict[str, Any]:
    """Train ``name`` on ``data_dir/<name>`` and save a new version; return its card."""
    use_case = registry.use_cases[name]
    trained = use_case.train(data_dir / name, sample, step)
    extra = {"input_schema": json_schema(use_case.request_schema), "example": use_case.example}
    return registry.save(name, trained, extra)


def train_all(artifacts_dir: Path, sample: float = 1.0, data_dir: Path = Path(Config.DATA_DIR)) -> dict[str, dict]:
    """Train every use case into ``artifacts_dir``; tests use a small ``sample``."""
    registry = Registry(Path(artifacts_dir), catalog.USE_CASES)
    return {name: train_use_case(registry, name, data_dir, sample) for name in registry.use_cases}
