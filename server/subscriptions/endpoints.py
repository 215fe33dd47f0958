"""Which URLs a rest-hook subscription may send notifications to.

A notification carries a survivor's alerts, so an endpoint is a place her data goes: a
deployment names the places it trusts in ``AMPARO_SUBSCRIPTION_ENDPOINTS`` (URL
prefixes, comma-separated). Without it only ``https://`` URLs whose host resolves to
public addresses only are taken, never loopback, private, link-local or reserved
ranges, so that a subscription cannot make the server call into its own network
(server-side request forgery). The check runs when a subscription is written and again
before each delivery, because a name may resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

ENV = "AMPARO_SUBSCRIPTION_ENDPOINTS"


def allowed_prefixes() -> tuple[str, ...] | None:
    """The configured prefixes, or None when the variable is unset (public HTTPS only)."""
    value = os.environ.get(ENV)
    if value is None or not value.strip():
        return None
    return tuple(p.strip() for p in value.split(",") if p.strip())


def refusal(url: str) -> str | None:
    """Why ``url`` may not receive notifications (Spanish, for an OperationOutcome), or
    None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "el endpoint no es una URL válida"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "el endpoint debe ser una URL http(s) absoluta"
    if parts.username or parts.password:
        return "el endpoint no puede llevar credenciales en la URL (use channel.header)"
    prefixes = allowed_prefixes()
    if prefixes is not None:
        if any(url.startswith(p) for p in prefixes):
            return None
        return "el endpoint no está entre los permitidos por la plataforma"
    if parts.scheme != "https":
        return "el endpoint debe usar https"
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return "el nombre del endpoint no se pudo resolver"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return "el endpoint apunta a una dirección que no es pública"
    return None
