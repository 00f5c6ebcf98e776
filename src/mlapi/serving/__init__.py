"""Models behind the routes: the registry of versions, model files, training, the one prediction flow."""
