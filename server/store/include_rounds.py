"""The rounds of ``_include``/``_revinclude`` (https://hl7.org/fhir/R4B/search.html#include),
shared by the store adapters, which each run one round's query per include parameter.

``:iterate`` repeats the includes on what the previous round added, until a round adds
nothing or ``MAX_ROUNDS`` is reached; each resource is included once, never a match.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from server.search.query import Include
from server.store.port import StoredVersion

#: Rounds of ``:iterate`` after the first (a loop in the data ends when a round adds
#: nothing; this bounds a long reference chain).
MAX_ROUNDS = 4
#: At most this many included resources per page (a guard against an include fanning
#: out to most of the store; the rest is left out rather than paged).
MAX_INCLUDED = 5000

Item = TypeVar("Item")
#: One included resource as a round's query finds it: a key identifying it, what the
#: next round needs of it (the adapter's own handle), and the version to return.
Found = tuple[Hashable, Item, StoredVersion]


def included(includes: tuple[Include, ...], matches: list[tuple[Hashable, Item]],
             run: Callable[[Include, list[Item]], Iterable[Found]]) -> list[StoredVersion]:
    """The resources ``includes`` add to a page of ``matches`` (key, handle), in the
    order found; ``run(include, frontier)`` is one round's query for one include
    parameter, already filtered by the caller's access."""
    seen = {key for key, _ in matches}
    out: list[StoredVersion] = []
    frontier = [item for _, item in matches]
    rounds = list(includes)
    for _ in range(MAX_ROUNDS + 1):
        if not frontier or not rounds or len(out) >= MAX_INCLUDED:
            break
        added: list[Item] = []
        for spec in rounds:
            for key, item, version in run(spec, frontier):
                if key in seen or len(out) >= MAX_INCLUDED:
                    continue
                seen.add(key)
                added.append(item)
                out.append(version)
        frontier = added
        rounds = [i for i in includes if i.iterate]
    return out
