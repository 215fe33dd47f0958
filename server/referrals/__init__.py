"""Referrals between institutions: the workflow of a referral's task (``workflow``), the
declarative files it runs on (``config``: ``transitions.json``, ``service-levels.json``
and their JSON Schemas) and the times measured from a task's history (``timing``)."""

from .config import (
    ReferralConfigError,
    ServiceLevels,
    Transitions,
    load_service_levels,
    load_transitions,
)
from .timing import ReferralTimes, referral_times
from .workflow import ReferralWorkflow, is_referral_task

__all__ = ["ReferralConfigError", "ReferralTimes", "ReferralWorkflow", "ServiceLevels",
           "Transitions", "is_referral_task", "load_service_levels", "load_transitions",
           "referral_times"]
