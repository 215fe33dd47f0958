"""Early warning: alerts on high-risk and recurring violence, raised and cleared by the
outbox worker after every committed change (``engine.py``), by the rules of ``rules.py``
with the thresholds and windows of ``rules.json`` (checked at load: ``config.py``)."""
