"""The policy decision point: who may see which resource, for what purpose (DESIGN.md,
"Who may see what"). A pure library: it never imports ``server``.

Arrives with the access-control issue; until then the server's access gate
(``server/access.py``) permits everything through the same two faces it will use.
"""
