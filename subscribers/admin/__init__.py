"""Admin for the subscribers app, one module per area: subscribers and deliveries, and the edition's send panel."""

from __future__ import annotations

from subscribers.admin import editions, subscribers

__all__ = ["editions", "subscribers"]
