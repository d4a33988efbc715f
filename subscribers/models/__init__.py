from __future__ import annotations

from subscribers.models.brake import SendingBrake
from subscribers.models.click import AgentClass, Click, ClickStreamMark, EditionLink, LinkKind
from subscribers.models.counts import DeliveryCount, SubscriberCount, SubscriberDayCount
from subscribers.models.delivery import Delivery, TrackingEvent
from subscribers.models.feedback import Profile, Vote
from subscribers.models.subscriber import Subscriber, Suppression

__all__ = [
    "AgentClass",
    "Click",
    "ClickStreamMark",
    "Delivery",
    "DeliveryCount",
    "EditionLink",
    "LinkKind",
    "Profile",
    "SendingBrake",
    "Subscriber",
    "SubscriberCount",
    "SubscriberDayCount",
    "Suppression",
    "TrackingEvent",
    "Vote",
]
