"""Admin for the digest app, one module per area: papers, editions, ingestion."""

from __future__ import annotations

from digest.admin import editions, ingestion, papers

__all__ = ["editions", "ingestion", "papers"]
