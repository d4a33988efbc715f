"""First-party click tracking: signed redirect links, a fast recording path, the bot rule, and the figures.

- ``tokens``: the per-recipient part of a tracked link (one signature per email);
- ``links``: an edition's link table, what a link number leads to, and the tracked URLs;
- ``agents``: User-Agent classes and the bot rule;
- ``recording``: the redirect's fast path (a Redis stream, or the database at once without Redis) and the drain;
- ``apply``: merging click events into ``Click`` rows and the per-paper daily reader counts trending reads;
- ``export``: a reader's clicks for their data export.
"""
