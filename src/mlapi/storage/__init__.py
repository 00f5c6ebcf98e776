"""The database and shared storage: tables, outages and what is held through them, background loops."""
