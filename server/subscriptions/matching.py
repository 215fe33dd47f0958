"""Topic matching on the outbox: each committed change that is an event of a topic is
numbered, in the change's unit of work, for every subscription to that topic whose
filters it passes.

``Matcher`` is an outbox consumer (``server/worker.py``; ``server/wsgi.py`` starts it as
``subscriptions``). Numbering an event and acknowledging the change commit together, so
each subscription's events are numbered exactly once, in commit order, with no gap
(``UnitOfWork.add_notification``), whatever crashes; delivery (``delivery.py``,
``websocket.py``) reads them from there.

Subscriptions in status ``active`` or ``error`` collect events (an endpoint that is down
gets them when it is back); ``requested`` ones start collecting once their handshake
succeeds, ``off`` ones never. A filter is a search (``Type?_id=<focus>&<filter>``) on the
unit, so it means what the topic's search parameter means. Who may see the record is
not decided here but when the notification is built (``notification.py``): the event
is numbered either way, and a subscriber that may not read the record learns only that
something happened.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server import clock
from server.search.parse import parse_criteria
from server.store import OutboxEvent, UnitOfWork
from server.subscriptions.subscription import Spec, spec
from server.subscriptions.topics import Topic, topics_for
from server.worker import changed

COLLECTING = ("active", "error")
_MAX_SUBSCRIPTIONS = 1000  # per topic, read per batch


class Matcher:
    """The ``subscriptions`` outbox consumer."""

    def __init__(self) -> None:
        #: the unit of work of the batch being handled, and the subscriptions by topic it read
        self._batch: tuple[UnitOfWork | None, dict[str, list[Spec]]] = (None, {})

    def __call__(self, uow: UnitOfWork, event: OutboxEvent) -> None:
        if event.type == "Subscription":  # a batch that changes subscriptions: read again
            self._batch = (None, {})
        candidates = topics_for(event.type)
        if not candidates:
            return
        current, previous = changed(uow, event)
        interaction = ("delete" if current is None else
                       "create" if previous is None else "update")
        at_us = clock.parse_instant(event.at) or clock.now()[1]
        for topic in candidates:
            if not topic.fires(event.type, interaction, current, previous):
                continue
            for sub in self._subscriptions(uow, topic):
                if _passes(uow, topic, sub, event):
                    uow.add_notification(sub.id, topic.url,
                                         f"{event.type}/{event.id}/_history/{event.version}",
                                         at_us)

    def _subscriptions(self, uow: UnitOfWork, topic: Topic) -> list[Spec]:
        if self._batch[0] is not uow:
            self._batch = (uow, {})
        cached = self._batch[1]
        if topic.url not in cached:
            query = replace(parse_criteria("Subscription", [
                ("criteria", topic.url), ("status", ",".join(COLLECTING))]),
                count=_MAX_SUBSCRIPTIONS, total=False)
            cached[topic.url] = [s for s in (spec(orjson.loads(v.body))
                                             for v in uow.search(query).matches)
                                 if s.topic == topic.url]
        return cached[topic.url]


def _passes(uow: UnitOfWork, topic: Topic, sub: Spec, event: OutboxEvent) -> bool:
    """Whether the changed record passes every filter of ``sub`` (a deleted one: none)."""
    if not sub.filters:
        return True
    criteria = [("_id", event.id)]
    for name, value in sub.filters:
        type, code = topic.filters.get(name, (None, None))
        if type != event.type:
            return False
        criteria.append((code, value))
    query = replace(parse_criteria(event.type, criteria), count=1, total=False)
    return bool(uow.search(query).matches)
