"""The audit trail: one AuditEvent per interaction, chained so that tampering shows.

- ``events``: the AuditEvent of an interaction (IHE Basic Audit Log Patterns);
- ``chain``: each event sealed with a hash over its content and the previous event's;
- ``trail``: appending sealed events to the store's trail, and verifying it;
- ``recorder``: the audit of one request (a write's event in its unit of work, the rest
  through ``spool``, before the response);
- ``spool``: where a read's event waits, on local disk, to move into the trail.
"""

from server.audit.chain import ChainBreak, seal, verify
from server.audit.events import Interaction, audit_event

__all__ = ["ChainBreak", "Interaction", "audit_event", "seal", "verify"]
