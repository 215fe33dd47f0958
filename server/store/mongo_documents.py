"""The MongoDB adapter's documents: a version's search index (``ResourceIndex``) as arrays
of small sub-documents inside the resource's current document, and back.

One array per value kind, one element per index row, so a compound multikey index such
as ``(type, tok.p, tok.c, tok.s)`` answers a parameter's lookup and ``$elemMatch`` ties
the fields of one row together (the code and system of the same coding). Field names
are short because every resource carries them:

======  ====================================  ======================================
array   element                               from ``server/search/index.py``
======  ====================================  ======================================
tok     {p, s, c, t}                          tokens (param, system, code, text)
str     {p, n, e}                             strings (param, normalized, exact)
ref     {p, tt, ti, v, u}                     references (param, type, id, version, url)
dt      {p, lo, hi}                           dates (param, low, high)
num     {p, v, lo, hi, a, b}                  numbers (param, value, low, high)
qty     {p, s, c, u, v, lo, hi, a, b}         quantities
uri     {p, u}                                uris (param, uri)
cmp     {p, a: part, b: part}                 composites; part {k1, k2, k3, v, lo, hi, ca, cb}
======  ====================================  ======================================

``a``/``b`` (``ca``/``cb`` in a composite part) are the bounds a number is compared by
(``compare_bounds``), computed at write time so that a query compares plain fields:
SQLite computes them in the query, which a MongoDB filter cannot do on an index.

Parameter codes and values are always field *values*, never keys: nothing a client
sends can become an operator or a dotted path in a query.
"""

from __future__ import annotations

from server.search.index import ResourceIndex
from server.store.port import AccessKeys

#: The document array of each ``ResourceIndex`` field.
ARRAYS = {"tokens": "tok", "strings": "str", "references": "ref", "dates": "dt",
          "numbers": "num", "quantities": "qty", "uris": "uri", "composites": "cmp"}

_FIELDS = {
    "tokens": ("p", "s", "c", "t"),
    "strings": ("p", "n", "e"),
    "references": ("p", "tt", "ti", "v", "u"),
    "dates": ("p", "lo", "hi"),
    "numbers": ("p", "v", "lo", "hi"),
    "quantities": ("p", "s", "c", "u", "v", "lo", "hi"),
    "uris": ("p", "u"),
}
_PART = ("k1", "k2", "k3", "v", "lo", "hi")


def compare_bounds(value: float | None, low: float | None,
                   high: float | None) -> tuple[float | None, float | None]:
    """The low and high an indexed number is compared by: a point (bounds that are just
    the precision around the value, as for an integer or a decimal) is its value; a
    range (a Range, a comparator quantity, an open end) is its bounds. The same rule
    as ``sqlite_conditions._compared``."""
    if value is None or low is None or high is None:
        return low, high
    if abs((high - value) - (value - low)) <= 1e-9 * max(1.0, abs(value)):
        return value, value
    return low, high


def _part(values: tuple) -> dict:
    part = dict(zip(_PART, values, strict=True))
    part["ca"], part["cb"] = compare_bounds(part["v"], part["lo"], part["hi"])
    return part


def document_arrays(index: ResourceIndex | None) -> dict[str, list[dict]]:
    """The index arrays of a resource document (every array present, maybe empty)."""
    arrays: dict[str, list[dict]] = {name: [] for name in ARRAYS.values()}
    if index is None:
        return arrays
    for kind, fields in _FIELDS.items():
        out = arrays[ARRAYS[kind]]
        for row in getattr(index, kind):
            element = dict(zip(fields, row, strict=True))
            if kind in ("numbers", "quantities"):
                element["a"], element["b"] = compare_bounds(element["v"], element["lo"],
                                                            element["hi"])
            out.append(element)
    arrays["cmp"] = [{"p": row[0], "a": _part(row[1:7]), "b": _part(row[7:13])}
                     for row in index.composites]
    return arrays


def index_fields(index: ResourceIndex | None, access_keys: AccessKeys) -> dict:
    """The fields of a resource document that its search index and access keys make
    (``acc``, ``accb`` and every array): what a write sets, and what ``amparo reindex``
    replaces."""
    return {**access_fields(access_keys), **document_arrays(index)}


def access_fields(access_keys: AccessKeys) -> dict:
    """``acc``, the keys (indexed, matched by ``$in``), and ``accb`` beside it, the basis
    of each (a list: keys hold characters a field name may not)."""
    keys = sorted(access_keys)
    return {"acc": keys, "accb": [access_keys[key] for key in keys]}


def access_keys_of(doc: dict) -> dict[str, str]:
    """The ``AccessKeys`` a resource document holds (``access_fields``)."""
    keys, bases = doc.get("acc") or [], doc.get("accb") or []
    return {key: bases[i] if i < len(bases) else "" for i, key in enumerate(keys)}


def index_from_document(doc: dict) -> ResourceIndex:
    """The ``ResourceIndex`` a resource document holds (for copying a store)."""
    index = ResourceIndex()
    for kind, fields in _FIELDS.items():
        rows = getattr(index, kind)
        for element in doc.get(ARRAYS[kind]) or ():
            rows.append(tuple(element.get(name) for name in fields))
    for element in doc.get("cmp") or ():
        a, b = element["a"], element["b"]
        index.composites.append((element["p"], *(a.get(n) for n in _PART),
                                 *(b.get(n) for n in _PART)))
    return index
