"""The alert tests' fixtures live in `alerts_fixtures.py` (importable by the tests for their types)."""

from alerts_fixtures import seed, smtp_server, status_table, tls_smtp_server, webhook

__all__ = ["seed", "smtp_server", "status_table", "tls_smtp_server", "webhook"]
