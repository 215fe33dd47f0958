"""The policy decision point: who may see which resource, for what purpose (DESIGN.md,
"Who may see what"). A pure library: plain dicts in, values out; it never imports
``server``.

- ``decide(principal, action, resource, context) -> Decision``: the six layers (scopes,
  author, legal mandate in ``policies/``, the survivor's Consents, security labels,
  break-the-glass). A deny is a value.
- ``access_keys(resource, context)`` / ``principal_keys(principal)``: the same decision
  for reads as a set intersection the store indexes (vocabulary in ``_keys``);
  ``access_basis``: the keys with the rules behind each (the audit trail's basis);
  ``plain_keys``/``redacting``/``redactable_types``: which reads show a redacted copy.
- ``default_labels(resource)``: the security label rules assigned on write;
  ``redact(resource, obligations)``: a permit's redactions applied to a copy.
- ``policies()`` / ``load_policies(paths)``: the mandate's grants; a bad file raises
  ``PolicyError``.
"""

from ._decide import decide
from ._keys import (
    access_basis,
    access_keys,
    keys_valid_until,
    plain_keys,
    principal_keys,
    redactable_types,
    redacting,
)
from ._labels import REDACTED, default_labels, redact
from ._model import (
    ACTIONS,
    BREAK_GLASS,
    CONFIDENTIALITY,
    KINDS,
    PURPOSES,
    Context,
    Decision,
    Obligation,
    Principal,
)
from ._policy import Grant, PolicyError, Selector, load_policies, policies
from ._provisions import parse_instant
from ._scopes import scope_allows

__all__ = [
    "ACTIONS",
    "BREAK_GLASS",
    "CONFIDENTIALITY",
    "KINDS",
    "PURPOSES",
    "REDACTED",
    "Context",
    "Decision",
    "Grant",
    "Obligation",
    "PolicyError",
    "Principal",
    "Selector",
    "access_basis",
    "access_keys",
    "decide",
    "default_labels",
    "keys_valid_until",
    "load_policies",
    "parse_instant",
    "plain_keys",
    "policies",
    "principal_keys",
    "redact",
    "redactable_types",
    "redacting",
    "scope_allows",
]
