"""Short synthetic accounts in Spanish, for the DocumentReference statements.

The texts are written the way each institution writes them (the survivor's own account at
the Centro de la Mujer, the officer's summary in a police report, the ER's injury report),
from phrases keyed by the codes of the incident. They carry no names: the subject of the
DocumentReference says who she is.
"""

from __future__ import annotations

import random

from .plan import Event

__all__ = ["account"]

_MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]

# What he did, by form of violence (formas-violencia codes).
_ACTS = {
    "fisica": [
        "la golpeó con los puños en la cara y los brazos",
        "la empujó contra la pared y la tomó del cuello",
        "le dio golpes y patadas",
        "la zamarreó y le tiró el pelo",
    ],
    "psicologica": [
        "la insultó y la humilló delante de otras personas",
        "la amenazó con matarla si lo dejaba",
        "le revisa el teléfono y controla con quién habla",
        "la amenaza con quitarle a sus hijos",
    ],
    "sexual": [
        "la obligó a mantener relaciones sexuales contra su voluntad",
        "la tocó sin su consentimiento",
    ],
    "economica": [
        "le retiene el dinero y no aporta a los gastos del hogar",
        "le quitó la tarjeta y controla sus ingresos",
    ],
    "trabajo": [
        "la acosa en el trabajo con comentarios de connotación sexual",
        "la hostiga y la amenaza con despedirla",
    ],
}
# Where (lugar-hechos codes).
_PLACES = {
    "domicilio-comun": "en el domicilio que comparten",
    "domicilio-victima": "en su casa",
    "domicilio-agresor": "en la casa de él",
    "via-publica": "en la vía pública",
    "lugar-trabajo": "en su lugar de trabajo",
    "espacio-digital": "por mensajes y redes sociales",
    "otro": "en otro lugar",
}
_WEAPONS = {
    "arma-fuego": "Él exhibió un arma de fuego.",
    "arma-blanca": "Él usó un cuchillo.",
    "objeto-contundente": "Él la agredió con un objeto contundente.",
    "otra": "Él usó un objeto como arma.",
}
_INJURIES = [
    "contusiones en rostro y brazos",
    "equimosis en el cuello",
    "erosiones en antebrazos",
    "hematoma periorbitario",
]
_SOMEONE = {
    "otro-familiar": "un familiar",
    "otro-conocido": "un conocido",
    "desconocido": "un hombre desconocido",
    "padre-hijo-comun": "el padre de su hijo",
    "companero-trabajo": "un compañero de trabajo",
}


def _date(event: Event) -> str:
    at = event.at
    return f"el {at.day} de {_MONTHS[at.month - 1]} de {at.year}, cerca de las {at:%H:%M}"


def account(
    kind: str, event: Event, relation_display: str, relation: str, rng: random.Random
) -> str:
    """Return the text of a statement of kind ``kind`` (tipo-documento code)."""
    who = _SOMEONE.get(relation, f"su {relation_display.lower()}")
    acts = [rng.choice(_ACTS[f]) for f in event.forms if f in _ACTS]
    if len(acts) > 1:
        what = ", ".join(acts[:-1]) + " y " + acts[-1]
    else:
        what = acts[0] if acts else "la agredió"
    where = _PLACES.get(event.place, "")
    if kind == "constatacion-lesiones":
        text = (
            f"Paciente consulta por lesiones que atribuye a agresión de {who}, "
            f"{_date(event)}, {where}. Se constatan {rng.choice(_INJURIES)}. "
            "Se informa a la Fiscalía (CPP art. 175 d)."
        )
    elif kind == "relato-parte-policial":
        text = f"Víctima denuncia que {_date(event)}, {who} {what}, {where}."
    else:
        text = (
            f"Relata que {_date(event)}, {who} {what}, {where}. "
            "Refiere que no es la primera vez y que tiene miedo de que vuelva a ocurrir."
        )
    if event.weapon in _WEAPONS:
        text += " " + _WEAPONS[event.weapon]
    if event.children:
        text += " Los hechos ocurrieron en presencia de sus hijos."
    return text
