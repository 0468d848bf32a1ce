"""Pieces every package shares: the exception tree and per-request context."""
