"""The minimum service package as a PlanDefinition (MinimumServicePackage). Data only:
``server.plans`` loads it, ``amparo init`` stores it and ``PlanDefinition/$apply`` makes
a survivor's CasePlan from it."""
