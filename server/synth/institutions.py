"""The institutions of the synthetic world: real Chilean public bodies, as Organizations.

Each survivor lives near one *hub* (a comuna with a full network: police, prosecutor,
courts, an emergency department, CESFAMs, a Centro de la Mujer, the municipality) and
meets the institutions of that hub, plus the national Fono 1455 and the regional shelter.
The names are those of real public institutions (and the fixtures' police units); the
Organization ids are ours: ``<kind>-<CUT of its comuna>`` with ``-2``, ``-3`` for a second
one of the same kind in the same comuna. Shelter (Casa de Acogida) records carry the
very-restricted label: their location is confidential.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from .ids import urn
from .terms import HL7, SID, Terms, terms

__all__ = ["Catalogue", "Hub", "Institution", "catalogue", "institutions_bundle"]


@dataclass(frozen=True)
class Institution:
    """One Organization: its id, kind (tipo-institucion code), name and comuna (CUT)."""

    id: str
    kind: str
    name: str
    comuna: str
    part_of: str | None = None

    @property
    def reference(self) -> dict[str, str]:
        return {"reference": f"Organization/{self.id}", "display": self.name}


@dataclass(frozen=True)
class Hub:
    """A comuna whose institutions serve the survivors of its provincia."""

    comuna: str
    weight: float
    institutions: dict[str, tuple[str, ...]]


# Parents, by kind: the national body each local office belongs to.
_NATIONAL = [
    ("sernameg", "sernameg", "Servicio Nacional de la Mujer y la Equidad de Género", None),
    ("linea-1455", "linea-1455", "Fono 1455 SernamEG (SernamEG te Orienta)", "sernameg"),
    ("carabineros", "carabineros", "Carabineros de Chile", None),
    ("pdi", "pdi", "Policía de Investigaciones de Chile", None),
    ("fiscalia-nacional", "fiscalia", "Fiscalía Nacional, Ministerio Público", None),
]
_PARENT = {
    "carabineros": "carabineros",
    "pdi": "pdi",
    "fiscalia": "fiscalia-nacional",
    "centro-de-la-mujer": "sernameg",
    "casa-de-acogida": "sernameg",
}

# (hub CUT, weight, región label, hospitals, CESFAMs, overrides {kind: name or (name, CUT)})
# fmt: off
_HUBS: list[tuple[str, float, str, list[str], list[str], dict[str, Any]]] = [
    ("15101", 0.02, "Región de Arica y Parinacota",
     ["Hospital Regional de Arica Dr. Juan Noé Crevani"],
     ["CESFAM Dr. Víctor Bertín Soto", "CESFAM Amador Neghme"], {}),
    ("01101", 0.025, "Región de Tarapacá",
     ["Hospital Regional de Iquique Dr. Ernesto Torres Galdames"],
     ["CESFAM Cirujano Aguirre", "CESFAM Cirujano Videla"], {}),
    ("02101", 0.04, "Región de Antofagasta",
     ["Hospital Regional de Antofagasta Dr. Leonardo Guzmán"],
     ["CESFAM Corvallis", "CESFAM Juan Pablo II"], {}),
    ("03101", 0.02, "Región de Atacama",
     ["Hospital Regional de Copiapó San José del Carmen"],
     ["CESFAM Palomar", "CESFAM Rosario"], {}),
    ("04101", 0.05, "Región de Coquimbo",
     ["Hospital San Juan de Dios de La Serena"],
     ["CESFAM Cardenal Caro", "CESFAM Las Compañías"], {}),
    ("05101", 0.08, "Región de Valparaíso",
     ["Hospital Carlos Van Buren"],
     ["CESFAM Placeres", "CESFAM Barón"], {}),
    ("13101", 0.10, "Región Metropolitana",
     ["Hospital de Urgencia Asistencia Pública", "Hospital San Juan de Dios"],
     ["CESFAM Ignacio Domeyko", "CESFAM Padre Orellana"],
     {"carabineros": "Tercera Comisaría Santiago Central",
      "pdi": "Brigada Investigadora de Delitos Sexuales y Menores Metropolitana",
      "fiscalia": "Fiscalía Local de Santiago Centro",
      "tribunal-familia": "Primer Juzgado de Familia de Santiago",
      "tribunal-garantia": "Séptimo Juzgado de Garantía de Santiago",
      "servicio-medico-legal": ("Servicio Médico Legal, sede central", "13108")}),
    ("13110", 0.08, "Región Metropolitana",
     ["Hospital Clínico Metropolitano La Florida Dra. Eloísa Díaz Insunza"],
     ["CESFAM Bellavista", "CESFAM Los Quillayes"],
     {"carabineros": "Comisaría La Florida",
      "tribunal-familia": ("Juzgado de Familia de San Miguel", "13130"),
      "tribunal-garantia": ("Juzgado de Garantía de Puente Alto", "13201")}),
    ("13201", 0.09, "Región Metropolitana",
     ["Complejo Asistencial Dr. Sótero del Río"],
     ["CESFAM Karol Wojtyla", "CESFAM Bernardo Leighton"],
     {"carabineros": "Comisaría Puente Alto"}),
    ("13119", 0.08, "Región Metropolitana",
     ["Hospital El Carmen Dr. Luis Valentín Ferrada"],
     ["CESFAM Clotario Blest"],
     {"carabineros": "Comisaría Maipú",
      "tribunal-familia": ("Juzgado de Familia de Pudahuel", "13124"),
      "tribunal-garantia": ("Séptimo Juzgado de Garantía de Santiago", "13101")}),
    ("06101", 0.05, "Región de O'Higgins",
     ["Hospital Regional de Rancagua"],
     ["CESFAM N° 1 Rancagua", "CESFAM N° 2 Rancagua"], {}),
    ("07101", 0.06, "Región del Maule",
     ["Hospital Regional de Talca"],
     ["CESFAM Las Américas", "CESFAM Carlos Trupp"], {}),
    ("16101", 0.03, "Región de Ñuble",
     ["Hospital Clínico Herminda Martín"],
     ["CESFAM Ultraestación", "CESFAM Los Volcanes"], {}),
    ("08101", 0.08, "Región del Biobío",
     ["Hospital Clínico Regional Dr. Guillermo Grant Benavente"],
     ["CESFAM Lorenzo Arenas", "CESFAM Tucapel"], {}),
    ("09101", 0.06, "Región de La Araucanía",
     ["Hospital Dr. Hernán Henríquez Aravena"],
     ["CESFAM Pueblo Nuevo", "CESFAM Amanecer"],
     {"carabineros": "Segunda Comisaría Temuco",
      "pdi": ("Brigada de Investigación Criminal Padre Las Casas", "09112")}),
    ("14101", 0.025, "Región de Los Ríos",
     ["Hospital Base Valdivia"],
     ["CESFAM Gil de Castro", "CESFAM Externo Valdivia"], {}),
    ("10101", 0.05, "Región de Los Lagos",
     ["Hospital Puerto Montt Dr. Eduardo Schütz Schroeder"],
     ["CESFAM Angelmó", "CESFAM Techo para Todos"],
     {"carabineros": "Segunda Comisaría Puerto Montt"}),
    ("11101", 0.01, "Región de Aysén",
     ["Hospital Regional de Coyhaique"],
     ["CESFAM Víctor Domingo Silva"], {}),
    ("12101", 0.01, "Región de Magallanes",
     ["Hospital Clínico Magallanes Dr. Lautaro Navarro Avaria"],
     ["CESFAM 18 de Septiembre", "CESFAM Dr. Mateo Bencur"], {}),
]
# fmt: on


def _defaults(city: str, region: str) -> dict[str, str]:
    return {
        "carabineros": f"Primera Comisaría {city}",
        "pdi": f"Brigada de Investigación Criminal {city}",
        "fiscalia": f"Fiscalía Local de {city}",
        "tribunal-familia": f"Juzgado de Familia de {city}",
        "tribunal-garantia": f"Juzgado de Garantía de {city}",
        "centro-de-la-mujer": f"Centro de la Mujer {city}",
        "municipalidad": f"Municipalidad de {city}",
        "casa-de-acogida": f"Casa de Acogida SernamEG {region}",
        "servicio-medico-legal": f"Servicio Médico Legal, sede {city}",
    }


class Catalogue:
    """Every Institution by id, the hubs, and the national institutions by kind."""

    def __init__(self, t: Terms) -> None:
        self.institutions: dict[str, Institution] = {}
        self.national = {kind: id_ for id_, kind, _, _ in _NATIONAL}
        for id_, kind, name, parent in _NATIONAL:
            self.institutions[id_] = Institution(id_, kind, name, "13101", parent)
        regional: dict[str, dict[str, str]] = {}  # región -> shelter / SML id, one per región
        self.hubs: list[Hub] = []
        for cut, weight, region, hospitals, cesfams, overrides in _HUBS:
            comuna = t.comunas[cut]
            named = _defaults(comuna.display, region) | overrides
            kinds: dict[str, list[str]] = {}
            for kind, value in named.items():
                name, where = value if isinstance(value, tuple) else (value, cut)
                if kind in ("casa-de-acogida", "servicio-medico-legal") and kind in regional.get(
                    comuna.region_code, {}
                ):
                    kinds[kind] = [regional[comuna.region_code][kind]]
                    continue
                kinds[kind] = [self._add(t, kind, name, where)]
                if kind in ("casa-de-acogida", "servicio-medico-legal"):
                    regional.setdefault(comuna.region_code, {})[kind] = kinds[kind][0]
            kinds["salud-urgencia"] = [self._add(t, "salud-urgencia", h, cut) for h in hospitals]
            kinds["aps"] = [self._add(t, "aps", c, cut) for c in cesfams]
            kinds["linea-1455"] = [self.national["linea-1455"]]
            self.hubs.append(Hub(cut, weight, {k: tuple(v) for k, v in kinds.items()}))

    def _add(self, t: Terms, kind: str, name: str, cut: str) -> str:
        t.concept("tipo-institucion", kind)
        for existing in self.institutions.values():
            if (existing.kind, existing.name, existing.comuna) == (kind, name, cut):
                return existing.id
        base, n = f"{kind}-{cut}", 1
        while (f"{base}-{n}" if n > 1 else base) in self.institutions:
            n += 1
        id_ = f"{base}-{n}" if n > 1 else base
        self.institutions[id_] = Institution(id_, kind, name, cut, _PARENT.get(kind))
        return id_


@cache
def catalogue() -> Catalogue:
    """Return the institution catalogue (built once per process)."""
    return Catalogue(terms())


def organization(inst: Institution, t: Terms) -> dict[str, Any]:
    """Return the Organization resource of an institution."""
    org: dict[str, Any] = {"resourceType": "Organization", "id": inst.id}
    if inst.kind == "casa-de-acogida":
        org["meta"] = {"security": [HL7["very-restricted"]]}
    org |= {
        "identifier": [{"system": SID + "institucion", "value": inst.id}],
        "active": True,
        "type": [t.concept_of("tipo-institucion", inst.kind)],
        "name": inst.name,
    }
    if inst.kind == "linea-1455":
        org["telecom"] = [{"system": "phone", "value": "1455", "use": "work"}]
    org["address"] = [t.address(inst.comuna, use="work")]
    if inst.part_of:
        org["partOf"] = {"reference": f"Organization/{inst.part_of}"}
    return org


def institutions_bundle() -> dict[str, Any]:
    """Return the transaction Bundle that PUTs every Organization; load it first.

    PUT with our ids (not POST) so that every later bundle can cite ``Organization/<id>``
    literally, and so that loading it twice changes nothing.
    """
    t, cat = terms(), catalogue()
    entries = []
    for inst in cat.institutions.values():
        entries.append(
            {
                "fullUrl": urn("Organization", SID + "institucion", inst.id),
                "resource": organization(inst, t),
                "request": {"method": "PUT", "url": f"Organization/{inst.id}"},
            }
        )
    return {
        "resourceType": "Bundle",
        "identifier": {"system": SID + "envio", "value": "institutions"},
        "type": "transaction",
        "entry": entries,
    }
