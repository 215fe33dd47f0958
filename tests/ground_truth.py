"""Section 6 of ``shared/fixtures/institutions/README.md``, the ground truth of the
institutions' fixture files, as data: each record is named by its file and position as
the README does (``hotline row 3``: data row 3 of ``calls.csv``; ``police item 3``: array
item 3 of ``denuncias.json``; ``health message 1``: HL7 message 1 of ``urgencias.hl7``;
``sernameg row 2``: data row 2 of ``ingresos.csv``), and a survivor by her label (``S01``)
or, for a woman of one record, by that record."""

from __future__ import annotations

from mappings.engine import CONTACT, DUPLICATE, INGESTED, OUT_OF_SCOPE, REJECTED

#: Section 6.2, the survivors with several records (records in date order).
SURVIVORS: dict[str, tuple[str, ...]] = {
    "S01": ("hotline row 3", "police item 3", "health message 1", "sernameg row 2",
            "police item 11", "health message 7", "hotline row 16"),
    "S02": ("hotline row 5", "sernameg row 1", "health message 10"),
    "S03": ("police item 1", "police item 6", "health message 2", "sernameg row 4"),
    "S04": ("hotline row 11", "police item 8", "health message 6", "sernameg row 6"),
    "S05": ("hotline row 13", "health message 3", "sernameg row 8"),
    "S06": ("police item 9", "sernameg row 7"),
    "S07": ("police item 20", "health message 14", "sernameg row 17"),
    "S08": ("hotline row 9", "sernameg row 5"),
    "S09": ("police item 10", "health message 4", "sernameg row 9"),
    "S10": ("hotline row 1", "hotline row 8", "hotline row 18"),
    "S11": ("hotline row 19", "police item 15", "health message 11", "sernameg row 12"),
    "S12": ("police item 4", "sernameg row 3", "police item 18", "health message 13"),
    "S14": ("hotline row 21", "police item 16"),
    "S15": ("hotline row 23", "sernameg row 13"),
    "S20": ("police item 12", "health message 8"),
    "NN": ("health message 15",),
}
#: Section 6.2, the single-source survivors of one record each, by file.
SINGLES: tuple[str, ...] = (
    *(f"hotline row {n}" for n in (14, 17, 20, 24, 25, 26, 28, 30, 31, 32, 33, 35, 36, 38, 39)),
    *(f"police item {n}" for n in (2, 5, 7, 13, 14, 17, 19, 21, 22, 23, 24, 25)),
    *(f"sernameg row {n}" for n in (10, 11, 14, 15, 16, 18, 19, 20)),
    "health message 9",
)
#: Section 6.1, the records that are no survivor's.
NOT_SURVIVORS: dict[str, str] = {
    **{f"hotline row {n}": CONTACT for n in (2, 4, 7, 10, 12, 15, 22, 27, 34, 37, 40)},
    "hotline row 6": DUPLICATE,
    "hotline row 29": REJECTED,
    "health message 5": DUPLICATE,
    "health message 12": OUT_OF_SCOPE,
}


def ground_truth() -> dict[str, tuple[str, ...]]:
    """Every survivor's records by label (a single-source survivor's label is her record)."""
    return {**SURVIVORS, **{key: (key,) for key in SINGLES}}


#: Section 6.1: outcomes per file (mapping, file under the fixtures, record label prefix).
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("fono-1455", "hotline-1455/calls.csv", "hotline row"),
    ("policia", "police/denuncias.json", "police item"),
    ("salud-urgencias", "health/urgencias.hl7", "health message"),
    ("sernameg-cdm", "sernameg/ingresos.csv", "sernameg row"),
)
OUTCOMES: dict[str, dict[str, int]] = {
    "fono-1455": {INGESTED: 27, CONTACT: 11, DUPLICATE: 1, OUT_OF_SCOPE: 0, REJECTED: 1},
    "policia": {INGESTED: 25, CONTACT: 0, DUPLICATE: 0, OUT_OF_SCOPE: 0, REJECTED: 0},
    "salud-urgencias": {INGESTED: 13, CONTACT: 0, DUPLICATE: 1, OUT_OF_SCOPE: 1, REJECTED: 0},
    "sernameg-cdm": {INGESTED: 20, CONTACT: 0, DUPLICATE: 0, OUT_OF_SCOPE: 0, REJECTED: 0},
}

#: Section 6.3: the aggressors, by the records that name them.
AGGRESSORS: dict[str, tuple[str, ...]] = {
    "A1": ("police item 3", "police item 11", "police item 20", "sernameg row 2",
           "sernameg row 17"),
    "A2": ("police item 1", "police item 6", "police item 15", "sernameg row 4",
           "sernameg row 12"),
    # the README's table names his police records; her intake names him too, by his RUN
    "G12": ("police item 4", "police item 18", "sernameg row 3"),
}
#: Section 6.3: the women each aggressor's records are against (a serial aggressor: 2+).
SERIAL = {"S01", "S07", "S03", "S11"}

#: Section 6.4: the survivors each alert is raised on.
RECURRENCE = {"S01", "S02", "S03", "S04", "S10", "S11", "S12", "S14"}
HIGH_RISK = {"S01", "S04", "S05", "S07", "S09", "S10", "S11", "S12", "hotline row 30",
             "sernameg row 14", "police item 23", "hotline row 33", "hotline row 36",
             "hotline row 39"}
ESCALATION = {"S01", "S03", "S10", "S12"}

#: Section 6.2: the records linked by name and facts only (rule 5.2.2), with no valid RUN
#: or document of hers: a candidate link each, to the rest of her records.
PROBABLE = ("hotline row 16", "hotline row 11", "hotline row 9", "health message 4",
            "hotline row 8")

#: Section 6.5: the police's RUC (``comunicacion_fiscal.ruc``) is the centre's
#: ``ruc_causa`` for these women.
SAME_CAUSE = {"S01", "S03", "S04", "S06", "S07", "S09", "S11", "S12"}
