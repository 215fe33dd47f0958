"""The institutions' fixtures (``shared/fixtures/institutions/``) as FHIR Patients: one per
record that identifies a woman, holding only what that record says about her, so that
``Patient/$match`` can be measured against the ground truth of the fixtures' README
(section 6.2).

This is a test helper, not the mappings (``mappings/``): it reads each source with a
well-kept parser (``csv``; ``json``; python-hl7 for the HL7 v2 feed, whose segments end
in a bare ``\\r`` that Python's universal newlines would turn into line feeds, so files
are opened with ``newline=""``) and keeps only identity: RUN (valid, or unverified when
its check digit is wrong), passport (its country by CodPais code, as the guide and
``mappings/`` name it), hospital record number, names (second surname in the CL Core
``SegundoApellido`` extension), birth date (a future one dropped), comuna
(CUT code by the ``ComunasCl`` extension, resolved from the name when the source gives
none) and phone. Each record's outcome (section 5.1: ingested, contact only, duplicate,
out of scope, rejected) is decided by the rules, so the test can check it against the
README's table rather than copy it.

Records are named as the README names them: ``hotline row 3``, ``police item 1``,
``health message 2``, ``sernameg row 4`` (CSV data rows after the header as a CSV parser
counts them, 1-based array items, HL7 messages in file order).
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import hl7

import terminology
from mappings.run import is_valid
from mappings.run import normalize as normal_run
from mappings.values import translate
from server.linkage.identity import (
    COMUNA_EXTENSION,
    COMUNA_SYSTEM,
    RUN_SYSTEM,
    SECOND_SURNAME,
    STATED_AGE,
    UNVERIFIED_RUN_SYSTEM,
)
from tests.conftest import SHARED
from tests.ground_truth import CONTACT, DUPLICATE, INGESTED, OUT_OF_SCOPE, REJECTED

FIXTURES = SHARED / "fixtures" / "institutions"
#: Every file's extraction date: no genuine event (or birth) is later.
EXTRACTED = date(2026, 9, 30)
#: Mainland Chile: hotline times and intake dates carry no offset.
SANTIAGO = ZoneInfo("America/Santiago")
SID = terminology.BASE + "/sid/"
#: Where a record with no readable date sorts: last (it is rejected anyway).
UNDATED = datetime(9999, 12, 31, tzinfo=UTC)
#: Section 5.1's scope rule for the ER feed: a DG1 code in these families is VAW evidence.
VAW_CODES = ("T74", "Y05", "Y06", "Y07")



@dataclass(frozen=True)
class Record:
    """One input record: ``key`` as the README names it, ``id`` the source's own key
    (``id_atencion``, ``id_registro``, ``MSH-10``, ``folio``), ``at`` its date (section
    5.4's: the call, the events of a complaint or else its filing, the ER arrival, the
    intake), the order the README lists a survivor's records in, its ``outcome`` and, when
    ingested, the ``patient`` it says she is."""

    key: str
    id: str
    at: datetime
    outcome: str
    patient: dict[str, Any] | None = None


def records() -> list[Record]:
    """Every record of the four sources, in date order."""
    return sorted([*hotline(), *police(), *health(), *sernameg()], key=lambda r: r.at)


# -- the four sources ---------------------------------------------------------------------

def hotline() -> Iterator[Record]:
    """``hotline-1455/calls.csv``: ``;``-separated, UTF-8 with a BOM, one row per contact.
    A phone given by a third party is the caller's (the dictionary says so), not hers, so
    it is kept only when the woman herself called."""
    seen: dict[str, dict[str, str]] = {}
    with open(FIXTURES / "hotline-1455" / "calls.csv", encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter=";"), 1):
            key, id = f"hotline row {n}", row["id_atencion"]
            at = _local(row["fecha_llamada"], row["hora_inicio"])
            if seen.get(id) == row:
                yield Record(key, id, at or UNDATED, DUPLICATE)
                continue
            seen[id] = row
            if at is None or at.date() > EXTRACTED:
                yield Record(key, id, at or UNDATED, REJECTED)
                continue
            run = _run(row["run_victima"])
            given, surnames = _text(row["nombres_victima"]), _text(row["apellidos_victima"])
            if not (run and is_valid(run)) and not (given and surnames):
                yield Record(key, id, at, CONTACT)
                continue
            family, second = _split_surnames(surnames)
            patient = _patient(
                runs=[run] if run else [], given=given, family=family, second=second,
                comuna=(row["cod_comuna"], row["comuna"]),
                phone=row["telefono_contacto"] if row["tipo_llamante"] == "VICTIMA" else None)
            age = int(row["edad_victima"]) if row["edad_victima"].isdigit() else None
            yield Record(key, id, at, INGESTED, _stated_age(patient, at, age))


def police() -> Iterator[Record]:
    """``police/denuncias.json``: one complaint per item; the victim's RUN is a body and a
    check digit, a passport a ``documento``; her comuna is her home's (``domicilio``), not
    the place of the events."""
    seen: dict[str, dict] = {}
    items = json.loads((FIXTURES / "police" / "denuncias.json").read_text(encoding="utf-8"))
    for n, item in enumerate(items, 1):
        key, id = f"police item {n}", item["id_registro"]
        filed = _iso(item.get("fecha_denuncia"))
        at = _iso(item.get("fecha_hechos")) or filed
        if seen.get(id) == item:
            yield Record(key, id, at or UNDATED, DUPLICATE)
            continue
        seen[id] = item
        victim = item.get("victima")
        if filed is None or max(filed, at).date() > EXTRACTED or not isinstance(victim, dict):
            yield Record(key, id, at or UNDATED, REJECTED)
            continue
        run = _run(f"{victim['run']}-{victim['dv']}") if victim.get("run") else None
        document = victim.get("documento") or {}
        home = victim.get("domicilio") or {}
        patient = _patient(
            runs=[run] if run else [],
            passports=[(document["pais_emisor"], document["numero"])]
            if document.get("tipo") == "PASAPORTE" else [],
            given=_text(victim.get("nombres")), family=_text(victim.get("apellido_paterno")),
            second=_text(victim.get("apellido_materno")),
            birth=_birth(victim.get("fecha_nacimiento"), "%Y-%m-%d"),
            gender={"F": "female", "M": "male"}.get(victim.get("sexo")),
            comuna=(home.get("cod_comuna"), home.get("comuna")), phone=victim.get("telefono"))
        yield Record(key, id, at, INGESTED, _stated_age(patient, at, victim.get("edad")))


def health() -> Iterator[Record]:
    """``health/urgencias.hl7``: HL7 v2.5 ``ADT^A04`` messages, segments ending in ``\\r``,
    no batch envelope. PID-3 repeats ``id^^^authority^type`` (``NNCHL`` a RUN, ``PPN`` a
    passport with the country as authority, ``MR`` the hospital's record number); PID-5 is
    ``first surname^first given^other given``, PID-6 the second surname, PID-11.9 the CUT
    code. ``NN^MUJER`` with name type ``U`` is an unidentified woman: no name, only her
    record number (rule 5.2(4))."""
    seen: dict[str, str] = {}
    with open(FIXTURES / "health" / "urgencias.hl7", encoding="utf-8", newline="") as f:
        text = f.read()
    for n, raw in enumerate(hl7.split_file(text), 1):
        key = f"health message {n}"
        message = hl7.parse(raw)
        id = _field(message, "MSH.F10")
        at = _hl7_time(_field(message, "PV1.F44")) or _hl7_time(_field(message, "MSH.F7"))
        if seen.get(id) == raw:
            yield Record(key, id, at or UNDATED, DUPLICATE)
            continue
        seen[id] = raw
        if at is None or at.date() > EXTRACTED or not all(
                _has(message, s) for s in ("MSH", "PID", "PV1")):
            yield Record(key, id, at or UNDATED, REJECTED)
            continue
        codes = [_field(message, "F3.R1.C1", segment) for segment in _all(message, "DG1")]
        if _field(message, "ZVG.F2") != "S" and not any(c.startswith(VAW_CODES) for c in codes):
            yield Record(key, id, at, OUT_OF_SCOPE)
            continue
        runs, passports, records_ = [], [], []
        for value, authority, kind in _identifiers(message):
            if kind == "NNCHL" and (run := _run(value)):
                runs.append(run)
            elif kind == "PPN" and value:
                passports.append((authority, value))
            elif kind == "MR" and value:
                records_.append((authority, value))
        unnamed = _field(message, "PID.F5.R1.C7") == "U"
        patient = _patient(
            runs=runs, passports=passports, hospital_records=records_,
            given=None if unnamed else _text(" ".join(
                _field(message, f"PID.F5.R1.C{c}") for c in (2, 3))),
            family=None if unnamed else _text(_field(message, "PID.F5.R1.C1")),
            second=_text(_field(message, "PID.F6")), anonymous=unnamed,
            birth=_birth(_field(message, "PID.F7"), "%Y%m%d"),
            gender={"F": "female", "M": "male"}.get(_field(message, "PID.F8")),
            comuna=(_field(message, "PID.F11.R1.C9"), _field(message, "PID.F11.R1.C3")),
            phone=_field(message, "PID.F13.R1.C1"))
        yield Record(key, id, at, INGESTED, patient)


def sernameg() -> Iterator[Record]:
    """``sernameg/ingresos.csv``: ``,``-separated UTF-8, one row per intake; the RUN is
    dotted, a passport has its issuing country; the comuna code may be missing (resolve
    the name)."""
    seen: dict[str, dict[str, str]] = {}
    with open(FIXTURES / "sernameg" / "ingresos.csv", encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f), 1):
            key, id = f"sernameg row {n}", row["folio"]
            at = _local(row["fecha_ingreso"], "00:00:00")
            if seen.get(id) == row:
                yield Record(key, id, at or UNDATED, DUPLICATE)
                continue
            seen[id] = row
            if at is None or at.date() > EXTRACTED:
                yield Record(key, id, at or UNDATED, REJECTED)
                continue
            kind, number = row["tipo_documento"], _text(row["nro_documento"])
            run = _run(number) if kind == "RUN" and number else None
            patient = _patient(
                runs=[run] if run else [],
                passports=[(row["pais_documento"], number)]
                if kind == "PASAPORTE" and number else [],
                given=_text(row["nombres"]), family=_text(row["apellido_paterno"]),
                second=_text(row["apellido_materno"]),
                birth=_birth(row["fecha_nacimiento"], "%d-%m-%Y"), gender="female",
                comuna=(row["cod_comuna_residencia"], row["comuna_residencia"]),
                phone=row["telefono"])
            age = int(row["edad"]) if row["edad"].isdigit() else None
            yield Record(key, id, at, INGESTED, _stated_age(patient, at, age))


# -- the Patient ---------------------------------------------------------------------------

def _cod_pais(alpha3: str) -> str:
    """A passport's issuing country as the guide (and ``mappings/``) name it: its CodPais
    code, from the ISO 3166 alpha-3 code the sources write."""
    coding = translate("https://fhir.amparo.cl/ConceptMap/iso3166-alfa3-pais", alpha3.upper())
    return coding["code"] if coding else alpha3


def _patient(*, runs: Sequence[str] = (), passports: Sequence[tuple[str, str]] = (),
             hospital_records: Sequence[tuple[str, str]] = (), given: str | None = None,
             family: str | None = None, second: str | None = None, anonymous: bool = False,
             birth: str | None = None, gender: str | None = None,
             comuna: tuple[str | None, str | None] = (None, None),
             phone: str | None = None) -> dict[str, Any]:
    """A Patient with what one record says about her (identifier systems as
    ``server/linkage/identity.py`` reads them; a passport's system names its country as the
    source writes it, ISO 3166 alpha-3)."""
    identifiers = [{"system": RUN_SYSTEM if is_valid(run) else UNVERIFIED_RUN_SYSTEM,
                    "value": run} for run in runs]
    identifiers += [{"system": f"{SID}pasaporte/{_cod_pais(country)}", "value": number}
                    for country, number in passports]
    identifiers += [{"use": "usual", "system": f"{SID}institucion/{hospital.lower()}/persona",
                     "value": number} for hospital, number in hospital_records]
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if identifiers:
        patient["identifier"] = identifiers
    if anonymous:
        patient["name"] = [{"use": "anonymous", "text": "NN"}]
    elif given or family:
        name: dict[str, Any] = {"use": "official"}
        if family:
            name["family"] = family
        if family and second:
            name["_family"] = {"extension": [{"url": SECOND_SURNAME, "valueString": second}]}
        if given:
            name["given"] = given.split(" ")
        patient["name"] = [name]
    if phone and _text(phone):
        patient["telecom"] = [{"system": "phone", "value": _text(phone), "use": "mobile"}]
    if gender:
        patient["gender"] = gender
    if birth:
        patient["birthDate"] = birth
    if address := _address(*comuna):
        patient["address"] = [address]
    return patient


def _stated_age(patient: dict[str, Any], at: datetime, age: object) -> dict[str, Any]:
    """``patient`` with the age the record states on its day, as the guide's
    ``ext-edad-declarada`` (a Patient has no element for it; it is the hotline's only clue
    to her birth date, and rule 5.2(b) counts it)."""
    if type(age) is int:
        patient.setdefault("extension", []).append({"url": STATED_AGE, "extension": [
            {"url": "edad", "valueAge": {"value": age, "unit": "años",
                                          "system": "http://unitsofmeasure.org", "code": "a"}},
            {"url": "fecha", "valueDate": at.date().isoformat()}]})
    return patient


def _address(code: str | None, name: str | None) -> dict[str, Any] | None:
    """Her home comuna: the CUT code zero-padded to five digits (the hotline's Excel
    export drops the leading zero) when it is a real one, else the name resolved against
    ``terminology.comunas()``; a name that is no comuna (``Bajos de Mena``) stays as text
    with no code (section 5.1's warning)."""
    code = (code or "").strip()
    comuna = _comunas_by_code().get(code.zfill(5)) if code.isdigit() else None
    comuna = comuna or _comunas_by_name().get(_folded(name or ""))
    if comuna is None:
        return {"use": "home", "city": _text(name)} if _text(name) else None
    coding = {"system": COMUNA_SYSTEM, "code": comuna.code, "display": comuna.display}
    return {"use": "home", "city": comuna.display, "_city": {"extension": [
        {"url": COMUNA_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}]}}


@cache
def _comunas_by_code() -> dict[str, terminology.Comuna]:
    return {c.code: c for c in terminology.comunas()}


@cache
def _comunas_by_name() -> dict[str, terminology.Comuna]:
    return {_folded(c.display): c for c in terminology.comunas()}


# -- values as the sources write them -----------------------------------------------------

def _text(value: object) -> str | None:
    """A value with its stray spaces gone (None when nothing is left)."""
    return (" ".join(value.split()) or None) if isinstance(value, str) else None


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _split_surnames(surnames: str | None) -> tuple[str | None, str | None]:
    """The hotline's one cell of surnames: two words are ``paterno materno``; one word is
    a single surname; anything else (``de la Fuente``) is kept whole as the first, since
    splitting a compound surname is a guess."""
    words = (surnames or "").split()
    return (words[0], words[1]) if len(words) == 2 else (surnames, None)


def _run(text: str | None) -> str | None:
    """The RUN in normal form, check digit unverified; None when it is not shaped like
    one."""
    try:
        return normal_run(text) if text and text.strip() else None
    except ValueError:
        return None


def _birth(text: str | None, pattern: str) -> str | None:
    """An ISO birth date, or None when missing, unparseable or after the extraction date
    (a typo: section 5.1 drops it with a warning)."""
    try:
        born = datetime.strptime(text.strip(), pattern).date() if text and text.strip() else None
    except ValueError:
        return None
    return born.isoformat() if born and born <= EXTRACTED else None


def _local(day: str, time: str) -> datetime | None:
    """``dd-mm-yyyy`` and ``HH:MM:SS``, mainland Chile local time."""
    try:
        return datetime.strptime(f"{day.strip()} {time.strip() or '00:00:00'}",
                                 "%d-%m-%Y %H:%M:%S").replace(tzinfo=SANTIAGO)
    except ValueError:
        return None


def _iso(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _hl7_time(text: str) -> datetime | None:
    """HL7 TS with its offset, ``YYYYMMDDHHMMSS±ZZZZ``."""
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S%z")
    except ValueError:
        return None


def _identifiers(message: hl7.Message) -> Iterator[tuple[str, str, str]]:
    """PID-3's repetitions as (id, assigning authority, identifier type)."""
    for r in range(1, 100):
        try:
            value = str(message[f"PID.F3.R{r}.C1"])
        except (IndexError, KeyError):
            return
        yield value.strip(), _field(message, f"PID.F3.R{r}.C4"), _field(
            message, f"PID.F3.R{r}.C5")


def _has(message: hl7.Message, segment: str) -> bool:
    return bool(_all(message, segment))


def _all(message: hl7.Message, segment: str) -> list[hl7.Segment]:
    try:
        return message.segments(segment)
    except KeyError:
        return []


def _field(message: hl7.Message, path: str, segment: hl7.Segment | None = None) -> str:
    """python-hl7's accessor (``PID.F5.R1.C2``), or ``""`` for an absent field or
    segment; with ``segment``, ``path`` is relative to it (``F3.R1.C1``)."""
    try:
        if segment is None:
            return str(message[path])
        return str(segment.extract_field(*_indices(path)))
    except (IndexError, KeyError):
        return ""


def _indices(path: str) -> tuple[int, int, int, int, int]:
    """``F3.R1.C1`` as python-hl7's ``Segment.extract_field`` arguments (segment
    number, field, repetition, component, sub-component)."""
    parts = {p[0]: int(p[1:]) for p in path.split(".")}
    return 1, parts["F"], parts.get("R", 1), parts.get("C", 1), parts.get("S", 1)


__all__ = ["CONTACT", "DUPLICATE", "EXTRACTED", "FIXTURES", "INGESTED", "OUT_OF_SCOPE",
           "REJECTED", "Record", "health", "hotline", "police", "records", "sernameg"]
