from __future__ import annotations

from subscribers.models.click import AgentClass, Click, ClickStreamMark, EditionLink, LinkKind
from subscribers.models.delivery import Delivery, TrackingEvent
from subscribers.models.feedback import Profile, Vote
from subscribers.models.subscriber import Subscriber, Suppression

__all__ = [
    "AgentClass",
    "Click",
    "ClickStreamMark",
    "Delivery",
    "EditionLink",
    "LinkKind",
    "Profile",
    "Subscriber",
    "Suppression",
    "TrackingEvent",
    "Vote",
]
