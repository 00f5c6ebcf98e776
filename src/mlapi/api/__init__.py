"""The JSON API besides predictions: health, model cards, versions, usage; its OpenAPI document and docs."""
