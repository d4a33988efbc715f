from __future__ import annotations

from subscribers.models.delivery import Delivery, TrackingEvent
from subscribers.models.subscriber import Subscriber, Suppression

__all__ = ["Delivery", "Subscriber", "Suppression", "TrackingEvent"]
