"""Bulk Data Access (FHIR Bulk Data IG v2, ``$export``): asynchronous exports to NDJSON.

https://hl7.org/fhir/uv/bulkdata/STU2/export.html. The HTTP side is
``server/api/bulk_export.py`` (kick-off, status, DELETE) and ``server/api/bulk_files.py``
(downloads); here:

- ``kickoff``: the kick-off's parameters checked and read into an ``ExportRequest``
  (``request``);
- ``job``: the job as the store keeps it (``store.ExportJob``), with its progress;
- ``plan``: the request as a list of keyset-paged searches;
- ``reading``: their pages, through the consent gate (``Identified``) or, for the
  statistics purpose, de-identified through the platform (``Deidentified``,
  ``server/analytics/``);
- ``files``: the NDJSON files, one directory per job, a run writing only its own files;
- ``run`` and ``worker``: the background worker, leased, resumable after a crash;
- ``manifest``: the status answers; ``access``: whose export it is; ``audit``: the
  export's AuditEvent; ``config``: where files go and how long they stay.
"""
