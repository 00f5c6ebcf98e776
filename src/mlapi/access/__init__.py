"""Who may call and how often: API keys and roles, rate limits and their storage, per-key usage."""
