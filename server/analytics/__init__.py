"""Analytics: what leaves the platform for statistics (DESIGN.md, "analytics").

- ``statistics_consent``: whether a survivor declined the statistical use of her data
  (``declines_statistics``), and every survivor who did (``decliners``): left out of
  every de-identified export and every indicator.
- ``policy``: who obtains the de-identified export and what it carries
  (``statistics-export.json``, checked when loaded).
- ``deidentify``: the de-identification of one resource for one export.
"""
