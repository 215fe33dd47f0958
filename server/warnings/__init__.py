"""Early warning: alerts on high-risk and recurring violence, serial aggressors, breached
protection measures, lost referrals and lost contact, raised and cleared by the outbox
worker after every committed change (``engine.py``, reading her record with
``record.py``), by the rules of ``rules.py``, ``aggressors.py`` and ``engagement.py``
with the thresholds and windows of ``rules.json`` (checked at load: ``config.py``)."""
