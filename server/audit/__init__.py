"""The audit trail: one AuditEvent per interaction, chained so that tampering shows.

``events`` builds the AuditEvent of an interaction (IHE Basic Audit Log Patterns);
``chain`` seals each event with a hash over its content and the previous event's hash,
and verifies a trail. Storing them (same unit of work as a write; before a read's
response) is the store's part.
"""

from server.audit.chain import ChainBreak, seal, verify
from server.audit.events import Interaction, audit_event

__all__ = ["ChainBreak", "Interaction", "audit_event", "seal", "verify"]
