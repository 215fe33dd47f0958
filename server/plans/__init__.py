"""A survivor's plan: the minimum service package (``package``: the PlanDefinition the
platform ships), the CasePlan ``$apply`` makes from it (``apply``) and the write rule
that keeps the state of each offered service (``activities``)."""

from .activities import NEXT, OFFERED, PlanActivities, is_case_plan
from .apply import case_plan
from .package import (
    CASE_PLAN_PROFILE,
    PACKAGE_ID,
    PACKAGE_PROFILE,
    PACKAGE_URL,
    SERVICE_SYSTEM,
    check_package,
    minimum_package,
    package_resources,
    service_of,
)

__all__ = ["CASE_PLAN_PROFILE", "NEXT", "OFFERED", "PACKAGE_ID", "PACKAGE_PROFILE",
           "PACKAGE_URL", "SERVICE_SYSTEM", "PlanActivities", "case_plan", "check_package",
           "is_case_plan", "minimum_package", "package_resources", "service_of"]
