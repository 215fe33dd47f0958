"""Search, includes and history on the MongoDB documents (``mongo_documents.py``).

Pages are keyset-paged like SQLite's: a position is the boundary document's sort
values followed by its ``rid`` (insertion order), so a resource created or deleted
between two pages neither shifts nor duplicates entries. Without ``_sort`` a page is
one indexed query ordered by ``rid``. With ``_sort`` the sort values come from the
index arrays of the matches (projected, never the JSON), ordered here as the SQLite
adapter orders them (missing values last, then ``rid``), and only the page's bodies are
read. The access filter is part of every query, so totals and pages count only what
the caller may see, and included resources pass it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cmp_to_key

from pymongo.collection import Collection

from server.search.query import HistoryQuery, Include, SearchQuery, SortKey
from server.store import include_rounds as rounds
from server.store.mongo_conditions import Scope, max_chain_ids, resource_filter
from server.store.port import AccessFilter, HistoryPage, SearchPage, StoredVersion

#: The fields of a resource document a search returns (never the index arrays).
BODY = {"_id": 1, "rid": 1, "type": 1, "id": 1, "version": 1, "last_updated": 1,
        "deleted": 1, "body": 1, "method": 1}


def _met(doc: dict, access: AccessFilter) -> tuple[str, ...]:
    """The rules behind the keys of ``doc`` that ``access`` holds (``accb`` runs beside
    ``acc``: ``mongo_documents.index_fields``)."""
    if access.keys is None:
        return ()
    rules = {rule for key, basis in zip(doc.get("acc") or (), doc.get("accb") or (),
                                        strict=False)
             if key in access.keys for rule in basis.split()}
    return tuple(sorted(rules))


def stored(doc: dict) -> StoredVersion:
    return StoredVersion(doc["type"], doc["id"], doc["version"], doc["last_updated"],
                         bool(doc["deleted"]), doc.get("body"), doc.get("method", "PUT"))


class Searcher:
    """Queries of one reader: the store's (no session) or a unit of work's (its
    session, so it sees its own writes)."""

    def __init__(self, resources: Collection, versions: Collection, session: object = None):
        self.resources = resources
        self.versions = versions
        self.session = session

    def find(self, filter: dict, projection: dict, limit: int = 0,
             sort: list | None = None) -> list[dict]:
        cursor = self.resources.find(filter, projection, session=self.session)
        if sort:
            cursor = cursor.sort(sort)
        if limit:
            cursor = cursor.limit(limit)
        return list(cursor)

    # -- reads by id, filtered ------------------------------------------------------

    def read_visible(self, type: str, id: str, access: AccessFilter) -> StoredVersion | None:
        filter: dict = {"_id": f"{type}/{id}"}
        if access.keys is not None:
            filter["acc"] = {"$in": sorted(access.keys)}
        doc = self.resources.find_one(filter, {**BODY, "acc": 1, "accb": 1},
                                      session=self.session)
        if doc is None:
            return None
        return stored(doc)._replace(basis=_met(doc, access))

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        if access.keys is None:
            return True
        return self.resources.find_one(
            {"_id": f"{type}/{id}", "acc": {"$in": sorted(access.keys)}}, {"_id": 1},
            session=self.session) is not None

    def basis(self, refs: Iterable[tuple[str, str]],
              access: AccessFilter) -> dict[tuple[str, str], tuple[str, ...]]:
        names = sorted({f"{type}/{id}" for type, id in refs})
        if access.keys is None or not names:
            return {}
        docs = self.find({"_id": {"$in": names}, "acc": {"$in": sorted(access.keys)}},
                         {"type": 1, "id": 1, "acc": 1, "accb": 1})
        return {(doc["type"], doc["id"]): _met(doc, access) for doc in docs}

    # -- search ---------------------------------------------------------------------

    def search(self, query: SearchQuery, access: AccessFilter) -> SearchPage:
        scope = Scope(query.type, access, self.find, max_chain_ids())
        filter = resource_filter(scope, query.conditions)
        docs, more = (self._sorted if query.sort else self._by_rid)(query, filter)
        backward = query.before is not None
        total = None
        if query.total:
            total = self.resources.count_documents(filter, session=self.session)
        elif query.cursor is None and not backward and not more:
            total = len(docs)  # the first page holds every match: the total costs nothing
        first, last = (docs[0]["_position"], docs[-1]["_position"]) if docs else (None, None)
        has_next = more if not backward else True
        has_previous = (query.cursor is not None) if not backward else more
        extra = self._included(query.includes, docs, access) if query.includes and docs else []
        return SearchPage([stored(doc) for doc in docs], total,
                          next_cursor=last if docs and has_next else None,
                          previous_cursor=first if docs and has_previous else None,
                          included=extra)

    def _by_rid(self, query: SearchQuery, filter: dict) -> tuple[list[dict], bool]:
        """The page in insertion order: one query on the (type, rid) order."""
        backward = query.before is not None
        position = query.before if backward else query.cursor
        if position is not None:
            filter = {"$and": [filter, {"rid": {"$lt" if backward else "$gt": position[-1]}}]}
        docs = self.find(filter, BODY, query.count + 1, [("rid", -1 if backward else 1)])
        more = len(docs) > query.count
        docs = docs[:query.count]
        if backward:
            docs.reverse()
        for doc in docs:
            doc["_position"] = (doc["rid"],)
        return docs, more

    def _sorted(self, query: SearchQuery, filter: dict) -> tuple[list[dict], bool]:
        """The page in ``_sort`` order: every match's sort values from its index
        arrays (the same work SQLite's sorted plan does), then the page's bodies."""
        projection = {"rid": 1, "id": 1, "lu": 1}
        for key in query.sort:
            if key.kind in _SORT_ARRAYS:
                projection[_SORT_ARRAYS[key.kind][0]] = 1
        keyed = [(tuple(_sort_value(doc, key) for key in query.sort) + (doc["rid"],), doc["_id"])
                 for doc in self.find(filter, projection)]
        backward = query.before is not None
        order = cmp_to_key(_comparer(query.sort))
        position = query.before if backward else query.cursor
        if position is not None:
            boundary = order(tuple(position))
            keyed = [k for k in keyed if (order(k[0]) < boundary if backward
                                          else order(k[0]) > boundary)]
        keyed.sort(key=lambda k: order(k[0]), reverse=backward)
        page = keyed[:query.count + 1]
        more = len(page) > query.count
        page = page[:query.count]
        if backward:
            page.reverse()
        bodies = {doc["_id"]: doc for doc in
                  self.find({"_id": {"$in": [key for _, key in page]}}, BODY)}
        docs = []
        for position, key in page:
            doc = bodies[key]
            doc["_position"] = position
            docs.append(doc)
        return docs, more

    # -- includes -------------------------------------------------------------------

    def _included(self, includes: tuple[Include, ...], matches: list[dict],
                  access: AccessFilter) -> list[StoredVersion]:
        """One query per include parameter per round (``include_rounds.py``)."""

        def run(spec: Include, frontier: list[dict]):
            return [(doc["_id"], doc, stored(doc))
                    for doc in self._include(spec, frontier, access)]

        return rounds.included(includes, [(doc["_id"], doc) for doc in matches], run)

    def _include(self, spec: Include, frontier: list[dict],
                 access: AccessFilter) -> list[dict]:
        if spec.reverse:
            targets = [(doc["type"], doc["id"]) for doc in frontier
                       if spec.target is None or doc["type"] == spec.target]
            if not targets:
                return []
            by_type: dict[str, list[str]] = {}
            for type, id in targets:
                by_type.setdefault(type, []).append(id)
            points = [{"p": spec.param, "tt": type, "ti": {"$in": ids}}
                      for type, ids in sorted(by_type.items())]
            match = {"$or": [{"ref": {"$elemMatch": p}} for p in points]}
            terms = [{"type": spec.source}, match]
        else:
            sources = [doc["_id"] for doc in frontier if doc["type"] == spec.source]
            if not sources:
                return []
            keys = set()
            for doc in self.find({"_id": {"$in": sources}}, {"ref": 1}):
                for row in doc.get("ref") or ():
                    if row.get("p") != spec.param or row.get("ti") is None \
                            or row.get("tt") is None:
                        continue
                    if spec.target is None or row["tt"] == spec.target:
                        keys.add(f"{row['tt']}/{row['ti']}")
            if not keys:
                return []
            terms = [{"_id": {"$in": sorted(keys)}}]
        terms.append({"deleted": False})
        if access.keys is not None:
            terms.append({"acc": {"$in": sorted(access.keys)}})
        return self.find({"$and": terms}, BODY, sort=[("rid", 1)])

    # -- history --------------------------------------------------------------------

    def history(self, query: HistoryQuery, access: AccessFilter) -> HistoryPage:
        """Versions newest first (``seq`` descending). With an access filter, versions
        are kept when the caller may see their resource now (as in SQLite: access keys
        belong to the resource's current version); batches are read until the page is
        full, so a page is never trimmed after the fact."""
        terms: list[dict] = []
        if query.id is not None:
            terms += [{"type": query.type}, {"id": query.id}]
        elif query.type is not None:
            terms.append({"type": query.type})
        if query.since is not None:
            terms.append({"lu": {"$gte": query.since}})
        cursor = query.cursor
        wanted = query.count + 1
        kept: list[dict] = []
        while len(kept) < wanted:
            page_terms = list(terms)
            if cursor is not None:
                page_terms.append({"seq": {"$lt": cursor}})
            batch = list(self.versions.find({"$and": page_terms} if page_terms else {},
                                            session=self.session)
                         .sort("seq", -1).limit(wanted if access.keys is None
                                                else max(wanted * 2, 100)))
            if not batch:
                break
            kept += self._visible(batch, access)
            cursor = batch[-1]["seq"]
            if access.keys is None:
                break
        more = len(kept) > query.count
        kept = kept[:query.count]
        versions = [StoredVersion(v["type"], v["id"], v["version"], v["last_updated"],
                                  bool(v["deleted"]), v.get("body"), v["method"])
                    for v in kept]
        return HistoryPage(versions, next_cursor=kept[-1]["seq"] if more and kept else None)

    def _visible(self, batch: list[dict], access: AccessFilter) -> list[dict]:
        if access.keys is None:
            return batch
        rids = sorted({v["rid"] for v in batch})
        visible = {doc["rid"] for doc in self.find(
            {"$and": [{"rid": {"$in": rids}}, {"acc": {"$in": sorted(access.keys)}}]},
            {"rid": 1})}
        return [v for v in batch if v["rid"] in visible]


#: Sort value per parameter type: (array, field, field for descending order) — the
#: lowest value ascending and the highest descending (search.html#sort).
_SORT_ARRAYS = {
    "string": ("str", "n", "n"),
    "token": ("tok", "c", "c"),
    "date": ("dt", "lo", "hi"),
    "number": ("num", "v", "v"),
    "quantity": ("qty", "v", "v"),
    "uri": ("uri", "u", "u"),
    "reference": ("ref", None, None),
}


def _sort_value(doc: dict, key: SortKey) -> object:
    if key.kind == "id":
        return doc["id"]
    if key.kind == "last_updated":
        return doc["lu"]
    array, low, high = _SORT_ARRAYS[key.kind]
    values = []
    for row in doc.get(array) or ():
        if row.get("p") != key.param:
            continue
        if array == "ref":
            value = f"{row['tt']}/{row['ti']}" if row.get("tt") and row.get("ti") \
                else row.get("u")
        else:
            value = row.get(high if key.descending else low)
        if value is not None:
            values.append(value)
    if not values:
        return None
    return max(values) if key.descending else min(values)


def _comparer(keys: tuple[SortKey, ...]) -> Callable[[tuple, tuple], int]:
    """Compares positions (sort values, then rid): each key ascending or descending,
    missing values last, ties by rid."""

    def compare(x: tuple, y: tuple) -> int:
        for key, a, b in zip(keys, x, y, strict=False):
            if a == b:
                continue
            if a is None:
                return 1
            if b is None:
                return -1
            result = -1 if a < b else 1
            return -result if key.descending else result
        return (x[-1] > y[-1]) - (x[-1] < y[-1])

    return compare
