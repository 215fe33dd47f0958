"""Value conversions a mapping names by ``type``: text as Chilean institutions export it,
turned into the values FHIR wants, each problem reported rather than guessed over.

A conversion gets the source's text (or texts, when a field reads several columns) and
returns ``(value, problem)``: ``value`` None when there is nothing usable, ``problem`` a
sentence in Spanish when the text was there but wrong (a warning, or a rejection when
the field is required). Codes go through the ConceptMaps of ``terminology`` (the
``$translate`` operation), so what a source's code means is data, not code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import terminology
from mappings import run as runs
from terminology import operations

Converted = tuple[Any, str | None]

_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\D")


def text(values: Sequence[str | None], spec: dict) -> Converted:
    """Trimmed, inner runs of spaces made one."""
    value = _SPACES.sub(" ", (values[0] or "")).strip()
    return (value or None), None


def name(values: Sequence[str | None], spec: dict) -> Converted:
    """A person's name(s): trimmed and in title case (``  camila ANDREA`` -> ``Camila
    Andrea``), particles of compound surnames in lower case."""
    value, _ = text(values, spec)
    if value is None:
        return None, None
    words = [w if w.lower() in ("de", "del", "la", "las", "los", "y") else
             "-".join(p[:1].upper() + p[1:].lower() for p in w.split("-"))
             for w in value.split(" ")]
    return " ".join(words), None


def words(values: Sequence[str | None], spec: dict) -> Converted:
    """A name's words, as FHIR's ``given`` lists them."""
    value, _ = name(values, spec)
    return (value.split(" ") if value else None), None


def surnames(values: Sequence[str | None], spec: dict) -> Converted:
    """Both surnames in one cell -> ``{"paterno": first, "materno": second}``; a compound
    first surname (``de la Fuente``) keeps its particles."""
    value, _ = name(values, spec)
    if value is None:
        return None, None
    words = value.split(" ")
    family = []
    while words and (not family or family[-1].lower() in ("de", "del", "la", "las", "los")):
        family.append(words.pop(0))
    return {"paterno": " ".join(family), "materno": " ".join(words) or None}, None


def integer(values: Sequence[str | None], spec: dict) -> Converted:
    value = (values[0] or "").strip()
    if not value:
        return None, None
    if not value.isdigit():
        return None, f"«{value[:20]}» no es un número entero"
    return int(value), None


def run(values: Sequence[str | None], spec: dict) -> Converted:
    """A RUN in normal form (``12345678-5``), with whether its check digit is right: a
    wrong one is kept as unverified (never used to link), with a warning."""
    raw = "-".join(v.strip() for v in values if v and v.strip()) if len(values) > 1 \
        else (values[0] or "").strip()
    if not raw:
        return None, None
    try:
        normal = runs.normalize(raw)
    except ValueError:
        return None, f"«{raw[:20]}» no tiene la forma de un RUN"
    if not runs.is_valid(normal):
        return {"value": normal, "valid": False}, \
            f"el RUN {normal} tiene un dígito verificador inválido: se guarda como no verificado"
    return {"value": normal, "valid": True}, None


def phone(values: Sequence[str | None], spec: dict) -> Converted:
    """A Chilean phone as ``+56`` and its 9 digits (mobile ``9XXXXXXXX``)."""
    digits = _DIGITS.sub("", values[0] or "")
    if not digits:
        return None, None
    if digits.startswith("56") and len(digits) == 11:
        digits = digits[2:]
    if len(digits) != 9:
        return None, f"el teléfono «{(values[0] or '')[:20]}» no tiene 9 dígitos"
    return f"+56{digits}", None


def date(values: Sequence[str | None], spec: dict) -> Converted:
    """A date as ``spec["format"]`` (strptime) says, as FHIR's ``YYYY-MM-DD``; with
    ``notFuture``, one later than today (a typo: a birth date in 2096) is dropped with a
    warning."""
    moment, problem = _parse(values, spec)
    if moment and spec.get("notFuture") and moment.date() > datetime.now(
            ZoneInfo(spec.get("zone", "America/Santiago"))).date():
        return None, f"la fecha {moment.date().isoformat()} es futura: se descarta"
    return (moment.date().isoformat() if moment else None), problem


def datetime_(values: Sequence[str | None], spec: dict) -> Converted:
    """A local date and time (``spec["zone"]``, default America/Santiago) as an instant
    with its offset; several columns are joined with a space before parsing."""
    moment, problem = _parse(values, spec)
    if moment is None:
        return None, problem
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(spec.get("zone", "America/Santiago")))
    return moment.isoformat(), None


def _parse(values: Sequence[str | None], spec: dict) -> tuple[datetime | None, str | None]:
    raw = " ".join(v.strip() for v in values if v and v.strip())
    if not raw:
        return None, None
    for pattern in _formats(spec):
        try:
            return datetime.strptime(raw, pattern), None
        except ValueError:
            continue
    return None, f"«{raw[:30]}» no es una fecha válida"


def _formats(spec: dict) -> list[str]:
    formats = spec.get("format")
    return formats if isinstance(formats, list) else [formats or "%Y-%m-%d"]


def code(values: Sequence[str | None], spec: dict) -> Converted:
    """Each code (``split``: several in one cell) translated by ``spec["conceptMap"]`` to
    the platform's Coding; a code the map does not know is a warning and left out, one of
    ``spec["empty"]`` (``NO_INFORMA``) is no value; with ``upper``, codes are upper-cased
    before translating (``Chilena`` for a map written ``CHILENA``); with
    ``ignoreUnmapped``, codes the map does not know are left out silently (a list where
    most codes are not for this map: a visit's CIE-10 diagnoses)."""
    raw = values[0] or ""
    items = [c.strip() for c in raw.split(spec["split"])] if spec.get("split") else [raw.strip()]
    found, unknown = [], []
    for item in (i for i in items if i and i not in spec.get("empty", ())):
        coding = translate(spec["conceptMap"], item.upper() if spec.get("upper") else item)
        (found.append(coding) if coding else unknown.append(item))
    if spec.get("ignoreUnmapped"):
        unknown = []
    problem = f"código desconocido: {', '.join(u[:30] for u in unknown)}" if unknown else None
    if spec.get("split"):
        return (found or None), problem
    return (found[0] if found else None), problem


@cache
def translate(concept_map: str, source_code: str) -> dict | None:
    """The Coding ``source_code`` maps to (equivalent or wider), or None."""
    answer = operations.translate(url=concept_map, code=source_code,
                                  system=_source_system(concept_map))
    for parameter in answer.get("parameter", []):
        if parameter["name"] != "match":
            continue
        parts = {p["name"]: p for p in parameter.get("part", [])}
        if parts.get("equivalence", {}).get("valueCode") in ("unmatched", "disjoint"):
            continue
        coding = parts.get("concept", {}).get("valueCoding")
        if coding:
            return {k: coding[k] for k in ("system", "code", "display") if k in coding}
    return None


@cache
def _source_system(concept_map: str) -> str | None:
    for resource in terminology.registry.all_of("ConceptMap"):
        if resource.get("url") == concept_map:
            groups = resource.get("group") or [{}]
            return groups[0].get("source")
    raise KeyError(f"no ConceptMap {concept_map}")


def comuna(values: Sequence[str | None], spec: dict) -> Converted:
    """The comuna (``{"code": CUT, "display": name}``) from its code (Excel may have
    dropped a leading zero) or, failing that, its name; neither: a warning (the address
    keeps no comuna). With ``codeExpected`` (a source that always sends the CUT), a
    comuna found by its name alone is kept with a warning."""
    codes, names = _by_code(), _by_name()
    raw_code = (values[0] or "").strip()
    if raw_code.isdigit() and raw_code.zfill(5) in codes:
        return {"code": raw_code.zfill(5), "display": codes[raw_code.zfill(5)]}, None
    raw_name = (values[1] if len(values) > 1 else "") or ""
    key = _fold(raw_name)
    if key in names:
        missing = spec.get("codeExpected") and not raw_code  # the source left its CUT out
        return {"code": names[key], "display": codes[names[key]]}, \
            f"sin código CUT: la comuna se identificó por su nombre «{raw_name.strip()[:40]}»" \
            if missing else None
    if raw_code or raw_name.strip():
        return None, f"la comuna «{(raw_name or raw_code).strip()[:40]}» no es una comuna " \
                     "(sin código CUT)"
    return None, None


@cache
def _by_code() -> dict[str, str]:
    return {c.code: c.display for c in terminology.comunas()}


@cache
def _by_name() -> dict[str, str]:
    return {_fold(c.display): c.code for c in terminology.comunas()}


def _fold(value: str) -> str:
    """Case, accents and spaces folded: ``  rancagua `` = ``Rancagua``."""
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare).strip().lower()


def boolean(values: Sequence[str | None], spec: dict) -> Converted:
    raw = (values[0] or "").strip().upper()
    if not raw:
        return None, None
    truth = {"SI": True, "SÍ": True, "S": True, "Y": True, "TRUE": True, "1": True,
             "NO": False, "N": False, "FALSE": False, "0": False}
    if raw not in truth:
        return None, f"«{raw[:10]}» no es sí ni no"
    return truth[raw], None


def raw(values: Sequence[str | None], spec: dict) -> Converted:
    """The text as it is (an empty one is None)."""
    return (values[0] if values[0] not in (None, "") else None), None


def lookup(values: Sequence[str | None], spec: dict) -> Converted:
    """The entry of ``spec["table"]`` (any JSON value) for the trimmed text: a small
    table that belongs to one source (its hospitals' codes, its units); a text the table
    does not have is a warning and no value."""
    value = (values[0] or "").strip()
    if not value:
        return None, None
    if value not in spec.get("table", {}):
        return None, f"«{value[:30]}» no está en la tabla del mapeo"
    return spec["table"][value], None


CONVERSIONS: dict[str, Callable[[Sequence[str | None], dict], Converted]] = {
    "raw": raw, "text": text, "name": name, "words": words, "surnames": surnames,
    "integer": integer, "run": run, "phone": phone, "date": date, "datetime": datetime_,
    "code": code,
    "comuna": comuna, "boolean": boolean, "lookup": lookup,
}
