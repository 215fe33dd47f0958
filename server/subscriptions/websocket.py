"""The websocket channel (Subscriptions Backport IG): a subscriber's notifications pushed on
a websocket it opens, rather than POSTed to an endpoint of its own.

See: https://hl7.org/fhir/uv/subscriptions-backport/channels.html#websockets

The protocol, as served here:

1. the client asks ``Subscription/[id]/$get-ws-binding-token`` (``server/api/
   subscription_ws.py``) and gets a binding token (``issue``) and the ``websocket-url``
   (``public_url``);
2. it connects to that URL (any path) and sends the text frame ``bind-with-token
   <token>`` (within ``bind_within`` seconds; it may bind more tokens later on the same
   connection);
3. the server answers one ``handshake`` notification Bundle per subscription the token
   names, then pushes, as text frames of JSON, an ``event-notification`` Bundle for the
   events numbered after those that existed at bind time (up to ``max-count`` events
   each, in number order per subscription) and a ``heartbeat`` Bundle when the
   subscription has a heartbeat period and nothing was sent for that long. Events missed
   while not connected are asked for by number with ``$events``;
4. a token that cannot be accepted (malformed, expired, signed by no key of the server,
   an access token, or naming a subscription that is no longer a websocket subscription
   the token's institution sees and that collects events), any other message, or no bind
   in time: an OperationOutcome frame, then close with 1008 (policy violation). The
   answer is the same whatever the reason, so it tells nothing of a hidden subscription;
5. a subscription turned ``off``, deleted or moved to another channel stops its stream
   (noticed within ``check_seconds``); when no subscription is left the server closes
   the connection with 1000.

Binding tokens are short-lived JWTs (``TOKEN_TTL_S``) signed with the authorization
server's keys (``server/auth/keys.py``), so any process validates a token another one
issued; their ``typ`` and ``aud`` differ from an access token's, so neither is ever
taken for the other. A token only opens a binding: a bound connection lives on after
it expires.

Each server process runs one ``WebsocketChannel`` (``server/wsgi.py``); with several
processes each binds the same port with ``SO_REUSEPORT`` and any may accept a
connection. A connection reads its events from the store's event log (numbered by
``matching.py``), polling every ``poll_seconds``, so the process that serves it needs no
word from the one that numbered them. Notifications are built exactly like rest-hook
ones (``notification.bundle``, with the subscription's subscriber: what its institution
may not read goes without focus). Store reads run on a small pool of threads of the
channel's own (not on the connections' threads, which come and go), so the store's
per-thread connections stay few.

Nothing about a notification's content or a token is logged.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.server import Server, ServerConnection, serve

from server import clock
from server.access import Principal
from server.audit import trail
from server.auth.keys import ALGORITHM, KeyRing
from server.auth.tokens import LEEWAY_S, InvalidToken, issuer_of, signed_claims
from server.subscriptions.matching import COLLECTING
from server.subscriptions.notification import bundle, disclosure
from server.subscriptions.subscription import Spec, spec

if TYPE_CHECKING:
    from server.repository import Repository

__all__ = ["Binding", "WebsocketChannel", "configured_port", "expiration", "issue", "public_url",
           "start_channel", "verify"]

log = logging.getLogger("amparo.subscriptions")

URL_ENV, PORT_ENV, HOST_ENV = "AMPARO_WS_URL", "AMPARO_WS_PORT", "AMPARO_WS_HOST"
#: ``typ`` and ``aud`` of a binding token (an access token has ``at+jwt`` and the base)
TOKEN_TYPE = "amparo-ws-binding+jwt"
AUDIENCE = "urn:amparo:subscriptions:websocket"
TOKEN_TTL_S = 60
MAX_SUBSCRIPTIONS = 100  # named by one token
_MAX_TOKEN_CHARS = 16384
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BIND = re.compile(r"bind-with-token\s+(\S+)\s*")
_NOTIFICATIONS_PER_ROUND = 10  # per subscription and poll, at most
_SLICE = 0.2  # longest wait between two checks for the end of the main thread
T = TypeVar("T")


# -- binding tokens ----------------------------------------------------------------------

@dataclass(frozen=True)
class Binding:
    """What a valid binding token grants: ``principal`` (the caller that asked for it,
    as far as reading a Subscription goes) may bind ``subscriptions``; notifications
    name records under ``base`` (the FHIR base the caller used)."""

    principal: Principal
    subscriptions: tuple[str, ...]
    base: str
    expires: int  # seconds since the epoch


def issue(ring: KeyRing, base: str, principal: Principal, subscriptions: list[str],
          ttl_s: int = TOKEN_TTL_S) -> tuple[str, int]:
    """(a signed binding token for ``subscriptions``, when it expires: seconds since the
    epoch). The caller has checked that ``principal`` sees each of them."""
    kid, key = ring.signing_key()
    now = int(time.time())
    claims = {"iss": issuer_of(base), "aud": AUDIENCE, "sub": principal.client_id or "",
              "institution": principal.institution or "",
              "purpose_of_use": principal.purpose or "",
              "scope": " ".join(sorted(principal.scopes)),
              "subscriptions": list(subscriptions), "fhir_base": base,
              "jti": str(uuid.uuid4()), "iat": now, "exp": now + ttl_s}
    header = {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM]), now + ttl_s


def verify(ring: KeyRing, token: str) -> Binding:
    """The binding ``token`` grants; InvalidToken (its message never holds the token)."""
    claims = signed_claims(ring, token, "binding token", TOKEN_TYPE)
    try:
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S, aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
            institution={"essential": True}, purpose_of_use={"essential": True},
            scope={"essential": True}, subscriptions={"essential": True},
            fhir_base={"essential": True}).validate(claims)
    except (JoseError, ValueError):
        raise InvalidToken("the binding token is not valid or has expired") from None
    ids = claims["subscriptions"]
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_SUBSCRIPTIONS or \
            not all(isinstance(i, str) and _ID.fullmatch(i) for i in ids) or \
            not isinstance(claims["fhir_base"], str):
        raise InvalidToken("the binding token's claims are not valid")
    principal = Principal(client_id=claims["sub"] or None,
                          institution=claims["institution"] or None,
                          purpose=claims["purpose_of_use"] or None,
                          scopes=frozenset(str(claims["scope"]).split()))
    return Binding(principal, tuple(dict.fromkeys(ids)), claims["fhir_base"],
                   int(claims["exp"]))


def expiration(expires: int) -> str:
    """``expires`` (seconds since the epoch) as a FHIR dateTime."""
    return datetime.fromtimestamp(expires, UTC).isoformat()


# -- configuration -----------------------------------------------------------------------

def configured_port() -> int | None:
    """``AMPARO_WS_PORT``: the port every process's channel listens on (None: unset or 0,
    no websocket channel)."""
    value = (os.environ.get(PORT_ENV) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise SystemExit(f"{PORT_ENV} must be a TCP port (0 to 65535), got {value!r}")
    return int(value) or None


def public_url(base: str) -> str | None:
    """The URL clients connect to: ``AMPARO_WS_URL``, else the FHIR base's host on
    ``AMPARO_WS_PORT`` (``wss`` for an ``https`` base); None without a channel."""
    if url := (os.environ.get(URL_ENV) or "").strip():
        return url
    port = configured_port()
    if port is None:
        return None
    parts = urlsplit(base)
    host = parts.hostname or "localhost"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{host}:{port}"


def start_channel(repo: Repository, ring: KeyRing) -> WebsocketChannel | None:
    """This process's channel on ``AMPARO_WS_HOST``:``AMPARO_WS_PORT``, started; None
    when no port is configured or it cannot be bound (logged: the FHIR API goes on)."""
    port = configured_port()
    if port is None:
        return None
    channel = WebsocketChannel(repo, ring, os.environ.get(HOST_ENV) or "127.0.0.1", port)
    try:
        channel.start()
    except OSError as exc:
        log.error("websocket channel: cannot listen on port %d (%s)", port,
                  type(exc).__name__)
        return None
    return channel


# -- the server --------------------------------------------------------------------------

class Refused(Exception):
    """The connection is closed with 1008 after an OperationOutcome of ``code`` whose
    diagnostics are the message (Spanish: the client's)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


class _Stopped(Exception):
    """The channel is stopping (or the interpreter is: its thread pools take no more
    work once the main thread has ended): the connection is closed with 1001."""


_GOING_AWAY = "El servidor se detiene."
_TOKEN_REFUSED = ("El token de enlace no es válido, venció o nombra suscripciones que no se "
                  "pueden enlazar; pida otro con $get-ws-binding-token.")


@dataclass
class _Stream:
    """One bound subscription on one connection."""

    sub: Spec
    base: str
    after: int  # the highest event number sent (or that existed at bind)
    checked: float  # monotonic time the subscription was last read
    beat_at: float | None  # monotonic time of the next heartbeat (None: no heartbeat)


class WebsocketChannel:
    """One process's websocket server (see the module docstring). ``port`` 0 picks a free
    port; ``self.port`` is the one bound once started."""

    def __init__(self, repo: Repository, ring: KeyRing, host: str = "127.0.0.1",
                 port: int = 0, poll_seconds: float = 0.05, check_seconds: float = 1.0,
                 bind_within: float = 30.0, store_threads: int = 2):
        self.repo, self.store, self.ring = repo, repo.store, ring
        self.host, self.port = host, port
        self.poll_seconds, self.check_seconds = poll_seconds, check_seconds
        self.bind_within = bind_within
        self._store_threads = store_threads
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Listen and serve on threads until ``stop()`` or the end of the main thread."""
        if self._server is not None:
            raise RuntimeError("this channel is already running")
        self._stopping.clear()
        self._server = serve(self._connection, self.host, self.port, reuse_port=True,
                             max_size=_MAX_TOKEN_CHARS * 2, open_timeout=10,
                             server_header=None)
        self.port = self._server.socket.getsockname()[1]
        self._pool = ThreadPoolExecutor(self._store_threads,
                                        thread_name_prefix="amparo-websocket-store")
        self._threads = [threading.Thread(target=self._server.serve_forever,
                                          name="amparo-websocket"),
                         threading.Thread(target=self._watch, name="amparo-websocket-watch")]
        for thread in self._threads:
            thread.start()
        log.info("websocket channel listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float | None = None) -> None:
        """Stop listening, close every connection (1001, going away), wait for the
        threads."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown(code=CloseCode.GOING_AWAY, reason=_GOING_AWAY)
        self._stopping.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _watch(self) -> None:
        while not self._stopping.wait(_SLICE):
            if not threading.main_thread().is_alive():
                self.stop()
                return

    def _on_store(self, work: Callable[[], T]) -> T:
        """Run ``work`` (which reads the store) on the channel's store threads."""
        pool = self._pool
        try:
            if pool is None:
                raise RuntimeError("stopped")
            future = pool.submit(work)
        except RuntimeError:  # the channel is stopping
            raise _Stopped from None
        return future.result()

    # -- one connection -------------------------------------------------------------------

    def _connection(self, ws: ServerConnection) -> None:
        streams: dict[str, _Stream] = {}
        bind_by = time.monotonic() + self.bind_within
        try:
            while not self._stopping.is_set():
                try:
                    message = ws.recv(timeout=self.poll_seconds)
                except TimeoutError:
                    message = None
                if message is not None:
                    found = _BIND.fullmatch(message) if isinstance(message, str) else None
                    if found is None:
                        raise Refused("Mensaje no reconocido: se espera "
                                      "'bind-with-token <token>'.")
                    for frame in self._on_store(partial(self._bind, found[1], streams)):
                        ws.send(frame, text=True)
                elif not streams and time.monotonic() > bind_by:
                    raise Refused("No se recibió 'bind-with-token <token>' a tiempo.")
                bound = bool(streams)
                for frame in self._on_store(partial(self._due, streams)):
                    ws.send(frame, text=True)
                if bound and not streams:
                    ws.close(CloseCode.NORMAL_CLOSURE, "Las suscripciones terminaron.")
                    return
        except Refused as refused:
            _refuse(ws, refused)
        except _Stopped:
            ws.close(CloseCode.GOING_AWAY, _GOING_AWAY)
        except ConnectionClosed:
            pass
        except Exception as exc:  # only its class: a message may carry records
            log.error("websocket channel: connection failed with %s", type(exc).__name__)
            ws.close(CloseCode.INTERNAL_ERROR, "Error interno.")

    def _bind(self, token: str, streams: dict[str, _Stream]) -> list[bytes]:
        """Add the token's subscriptions to ``streams``; their handshakes."""
        try:
            binding = verify(self.ring, token)
        except InvalidToken:
            raise Refused(_TOKEN_REFUSED, "security") from None
        if len(set(streams) | set(binding.subscriptions)) > MAX_SUBSCRIPTIONS:
            raise Refused(f"Una conexión enlaza a lo más {MAX_SUBSCRIPTIONS} suscripciones.")
        gate = self.repo.gate.query_filter(binding.principal, "Subscription")
        found: dict[str, Spec] = {}
        for id in binding.subscriptions:
            stored = self.store.read_visible("Subscription", id, gate)
            sub = _streamable(stored.body if stored and not stored.deleted else None)
            if sub is None:  # hidden, deleted, off or another channel: told apart by none
                raise Refused(_TOKEN_REFUSED, "security")
            found[id] = sub
        now = time.monotonic()
        frames = []
        for id, sub in found.items():
            delivery = self.store.delivery(id)
            if id not in streams:
                streams[id] = _Stream(sub, binding.base,
                                      delivery.count if delivery is not None else 0, now,
                                      now + sub.heartbeat if sub.heartbeat else None)
            frames.append(orjson.dumps(bundle(self.repo.gate, self.store, sub, "handshake",
                                              [], delivery, streams[id].base)))
        return frames

    def _due(self, streams: dict[str, _Stream]) -> list[bytes]:
        """The notifications due on ``streams`` now (and the ended ones dropped)."""
        frames = []
        now = time.monotonic()
        for id, stream in list(streams.items()):
            if now - stream.checked >= self.check_seconds:
                stored = self.store.read("Subscription", id)
                sub = _streamable(stored.body if stored and not stored.deleted else None)
                if sub is None:
                    del streams[id]
                    continue
                stream.sub, stream.checked = sub, now
            sub = stream.sub
            delivery = self.store.delivery(id)
            for _ in range(_NOTIFICATIONS_PER_ROUND):  # the rest on the next round
                if delivery is None or delivery.count <= stream.after:
                    break
                events = self.store.notifications(id, stream.after, sub.max_count)
                if not events:
                    break
                note = bundle(self.repo.gate, self.store, sub, "event-notification", events,
                              delivery, stream.base)
                if (audit := disclosure(self.store, sub, note)) is not None:
                    with self.store.unit_of_work() as uow:  # audited before it leaves
                        trail.append(uow, audit, clock.now())
                        uow.commit()
                frames.append(orjson.dumps(note))
                stream.after = events[-1].number
                stream.beat_at = now + sub.heartbeat if sub.heartbeat else None
            if sub.heartbeat and (stream.beat_at is None or now >= stream.beat_at):
                frames.append(orjson.dumps(bundle(self.repo.gate, self.store, sub,
                                                  "heartbeat", [], delivery, stream.base)))
                stream.beat_at = now + sub.heartbeat
        return frames


def _streamable(body: bytes | str | None) -> Spec | None:
    """The subscription's Spec when it is a websocket one that collects events."""
    if body is None:
        return None
    sub = spec(orjson.loads(body))
    return sub if sub.channel == "websocket" and sub.status in COLLECTING else None


def _refuse(ws: ServerConnection, refused: Refused) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": refused.code, "diagnostics": str(refused)}]}
    try:
        ws.send(orjson.dumps(outcome), text=True)
        ws.close(CloseCode.POLICY_VIOLATION, "Enlace rechazado.")
    except ConnectionClosed:
        pass
