"""ESP webhooks: tracking events, mailto unsubscribes and the guarded endpoints they arrive through.

- ``tracking``: Anymail tracking events -> deliveries, suppressions, ESP-side unsubscribes.
- ``inbound``: mail to the List-Unsubscribe mailto address -> unsubscribe by the token in its subject.
- ``sns``: Amazon SNS signature verification and subscription confirmation, for SES.
- ``guard`` and ``urls``: only the configured ESP's Anymail views are mounted, each answering bad input with a 4xx.
"""
