"""Authentication and scopes (DESIGN.md, "How a request travels": HTTP -> auth ->
Principal).

- ``authorization.py``: the token endpoint (SMART Backend Services on authlib);
- ``tokens.py``: the signed JWT access tokens, issued and verified;
- ``keys.py``: the signing keys, in the store, rotated without downtime;
- ``resource.py``: a request's bearer token -> ``server.access.Principal`` (401);
- ``permissions.py``: what each interaction needs of the scopes (403);
- ``scopes.py``: SMART system scopes; ``clients.py``, ``secrets.py``: client registry.
"""

from __future__ import annotations

import logging

from flask import Flask

from server.auth.authorization import TokenServer
from server.auth.keys import KeyRing
from server.auth.tokens import LEEWAY_S, Verifier
from server.config import Settings
from server.store import Store

__all__ = ["AuthService", "init_app"]


class AuthService:
    """One process's authorization server and token verifier."""

    def __init__(self, app: Flask, store: Store, settings: Settings):
        # a key keeps verifying as long as a token it signed can live
        self.ring = KeyRing(store, grace_s=settings.token_ttl + 2 * LEEWAY_S + 60)
        self.verifier = Verifier(self.ring)
        self.tokens = TokenServer(app, store, self.ring, settings.token_ttl)


def init_app(app: Flask, store: Store, settings: Settings) -> AuthService:
    from server.auth.endpoints import blueprint

    # authlib's debug lines name clients and assertion errors; never tokens, but keep
    # its chatter out of the server's log unless asked for
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))
    app.register_blueprint(blueprint)
    return AuthService(app, store, settings)
