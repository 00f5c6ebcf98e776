"""HTTP plumbing under every route: the gunicorn worker, body and header guards, the JSON provider."""
