"""Journey logic: how women move through the network, as tables keyed by our codes.

The shapes follow how women reach the network in Chile (fixtures README, sections 2 and 5):
often the 1455 line or the police first, the emergency department the same night, then the
Centro de la Mujer, the prosecutor and the courts; shelters for grave or vital risk; about a
third come back after a new incident within the year, often at a higher risk. The keys are
codes of our CodeSystems (the tests check that each exists there); displays, systems and
which institution kind does what always come from the CodeSystem files.
"""

# fmt: off
# (name, weight, partner violence only, minimum severity, steps). A step is
# (contact kind, (min, max) hours after the previous step or the incident, reports it).
PATHWAYS: list[tuple[str, float, bool, int, list[tuple[str, tuple[float, float], bool]]]] = [
    ("1455-cdm", 0.22, True, 0, [
        ("llamada-1455", (0.5, 48), True), ("ingreso-cdm", (72, 500), False),
        ("seguimiento-cdm", (240, 1000), False)]),
    ("policia-urgencia-fiscalia-cdm", 0.16, True, 0, [
        ("denuncia", (0.5, 12), True), ("atencion-urgencia", (0.5, 4), True),
        ("declaracion-fiscalia", (72, 480), False), ("ingreso-cdm", (120, 600), False)]),
    ("policia-cdm-familia", 0.14, True, 0, [
        ("denuncia", (0.5, 24), True), ("ingreso-cdm", (96, 600), False),
        ("audiencia-familia", (300, 1400), False)]),
    ("urgencia-policia-cdm", 0.10, True, 0, [
        ("atencion-urgencia", (0.5, 6), True), ("denuncia", (1, 36), True),
        ("ingreso-cdm", (120, 700), False)]),
    ("riesgo-vital", 0.30, True, 2, [
        ("llamada-1455", (0.2, 6), True), ("denuncia", (0.5, 6), True),
        ("atencion-urgencia", (0.5, 4), True), ("audiencia-garantia", (12, 40), False),
        ("ingreso-cdm", (48, 300), False), ("ingreso-casa-acogida", (6, 72), False)]),
    ("aps-cdm", 0.08, True, 0, [
        ("atencion-aps", (72, 700), True), ("ingreso-cdm", (120, 700), False)]),
    ("municipal-cdm", 0.05, True, 0, [
        ("atencion-municipal", (72, 500), True), ("ingreso-cdm", (72, 400), False)]),
    ("familia-policia-fiscalia", 0.10, False, 0, [
        ("denuncia", (0.5, 24), True), ("declaracion-fiscalia", (72, 480), False),
        ("audiencia-familia", (300, 1400), False)]),
    ("1455-policia", 0.06, False, 0, [
        ("llamada-1455", (0.5, 24), True), ("denuncia", (1, 72), True)]),
    ("sexual-urgencia-sml", 0.05, False, 0, [
        ("atencion-urgencia", (0.5, 12), True), ("denuncia", (0.5, 12), True),
        ("peritaje-sml", (4, 72), False), ("declaracion-fiscalia", (48, 400), False)]),
]

# Forms of violence (formas-violencia) by relationship group (relacion-agresor roots).
FORMS = {
    "pareja": {"psicologica": 0.85, "fisica": 0.6, "economica": 0.3, "sexual": 0.12},
    "ex-pareja": {"psicologica": 0.85, "fisica": 0.55, "economica": 0.25, "sexual": 0.1},
    "familiar": {"psicologica": 0.8, "fisica": 0.55, "economica": 0.35},
    "conocido": {"psicologica": 0.7, "fisica": 0.4, "sexual": 0.25},
    "desconocido": {"sexual": 0.7, "fisica": 0.6},
    "companero-trabajo": {"trabajo": 0.9, "psicologica": 0.7, "sexual": 0.4},
}
# Place of the events (lugar-hechos) by relationship group.
PLACES = {
    "pareja": {"domicilio-comun": 0.75, "via-publica": 0.15, "domicilio-agresor": 0.05,
               "espacio-digital": 0.05},
    "ex-pareja": {"domicilio-victima": 0.45, "via-publica": 0.35, "domicilio-agresor": 0.1,
                  "espacio-digital": 0.1},
    "familiar": {"domicilio-comun": 0.8, "domicilio-victima": 0.15, "via-publica": 0.05},
    "conocido": {"via-publica": 0.5, "domicilio-victima": 0.3, "otro": 0.2},
    "desconocido": {"via-publica": 0.8, "otro": 0.2},
    "companero-trabajo": {"lugar-trabajo": 0.9, "espacio-digital": 0.1},
}
# Weapon (tipo-arma) by latent severity 0-3 (bajo, medio, alto, vital).
WEAPONS = [
    {"sin-arma": 0.92, "objeto-contundente": 0.08},
    {"sin-arma": 0.8, "objeto-contundente": 0.12, "arma-blanca": 0.08},
    {"sin-arma": 0.6, "arma-blanca": 0.2, "objeto-contundente": 0.15, "arma-fuego": 0.05},
    {"sin-arma": 0.2, "arma-blanca": 0.35, "objeto-contundente": 0.2, "arma-fuego": 0.25},
]
SEVERITY = [0.35, 0.37, 0.19, 0.09]  # share of cases whose latent risk is bajo ... vital

# How likely a contact assesses risk, and which instrument an institution prefers.
ASSESS = {"llamada-1455": 1.0, "denuncia": 0.9, "ingreso-cdm": 1.0, "seguimiento-cdm": 0.8,
          "atencion-urgencia": 0.3, "atencion-aps": 0.5, "ingreso-casa-acogida": 0.5,
          "declaracion-fiscalia": 0.3}
INSTRUMENTS = {"puir": 1.0, "pauta-1455": 1.0, "pauta-cdm": 0.7, "dash": 0.3}
DASH_SCORES = {"bajo": (2, 9), "medio": (10, 13), "alto": (14, 22)}  # "yes" answers of 24
# Statements (tipo-documento) a contact records, and how often.
DOCUMENTS = {"denuncia": ("relato-parte-policial", 0.85),
             "ingreso-cdm": ("relato-sobreviviente", 1.0),
             "atencion-urgencia": ("constatacion-lesiones", 0.7)}
DURATION_MIN = {"llamada-1455": (8, 45), "denuncia": (40, 150), "atencion-urgencia": (90, 480),
                "atencion-aps": (20, 45), "ingreso-cdm": (60, 100), "seguimiento-cdm": (45, 60),
                "declaracion-fiscalia": (45, 120), "audiencia-familia": (30, 90),
                "audiencia-garantia": (20, 60), "ingreso-casa-acogida": (90, 180),
                "atencion-municipal": (30, 60), "peritaje-sml": (60, 150)}
# Contacts that only happen in office hours.
OFFICE = {"atencion-aps", "ingreso-cdm", "seguimiento-cdm", "declaracion-fiscalia",
          "audiencia-familia", "audiencia-garantia", "atencion-municipal", "peritaje-sml"}
# Where a referral that brings her to a contact of this kind ends (estado-derivacion);
# only these contact kinds are reached by referral (she calls the 1455 line or the police
# herself). Her contact's bundle starts the service (en-atencion) when the answer goes
# through it, else it records the answer itself (see STEPS).
ARRIVAL = {"atencion-urgencia": "completada", "atencion-aps": "completada",
           "ingreso-cdm": "en-atencion", "declaracion-fiscalia": "aceptada",
           "audiencia-familia": "completada", "audiencia-garantia": "completada",
           "ingreso-casa-acogida": "en-atencion", "atencion-municipal": "en-atencion"}
# Who usually refers a woman to a contact of this kind (else the latest institution).
REFERRERS = {"declaracion-fiscalia": ("denuncia",), "audiencia-garantia": ("denuncia",),
             "audiencia-familia": ("ingreso-cdm", "denuncia"),
             "ingreso-casa-acogida": ("ingreso-cdm", "llamada-1455"),
             "ingreso-cdm": ("llamada-1455", "atencion-urgencia", "atencion-aps",
                             "atencion-municipal", "denuncia")}
# Referrals no later contact answers: (service, receiving kind, outcomes, days to answer).
# "enviada" as outcome means nobody ever answers: the referral is lost.
TO_FISCALIA = ("medidas-proteccion", "fiscalia", {"recibida": 0.85, "enviada": 0.15}, (1, 3))
TO_CDM = ("apoyo-psicosocial", "centro-de-la-mujer", {"enviada": 0.6, "no-se-presenta": 0.4},
          (20, 45))
TO_SHELTER = ("casa-acogida", "casa-de-acogida", {"sin-cupo": 0.6, "desiste": 0.4}, (1, 3))
TO_WORK = ("autonomia-economica", "municipalidad",
           {"enviada": 0.4, "en-atencion": 0.3, "no-se-presenta": 0.3}, (10, 60))
TO_CHILDREN = ("apoyo-hijos-hijas", "aps",
               {"enviada": 0.4, "en-atencion": 0.4, "no-se-presenta": 0.2}, (10, 60))
# The receiving institution's changes of a referral Task from "enviada" to each answer,
# one status change per Task version, as the server's referral workflow allows them
# (server/referrals/transitions.json): accepted before the service starts, in progress
# before it is completed; a no-show after an acceptance (the appointment she missed); a
# refusal or her desistance straight from the request.
STEPS = {
    "recibida": ("recibida",),
    "aceptada": ("aceptada",),
    "en-atencion": ("aceptada", "en-atencion"),
    "completada": ("aceptada", "en-atencion", "completada"),
    "no-se-presenta": ("aceptada", "no-se-presenta"),
    "sin-cupo": ("sin-cupo",),
    "desiste": ("desiste",),
}
# Why a referral ends without service (Task.statusReason; a refusal requires one).
REASONS = {
    "sin-cupo": "No hay cupo disponible en la casa de acogida en este momento.",
    "no-se-presenta": "No se presenta a la hora agendada y no fue posible contactarla.",
    "desiste": "La mujer decide no ingresar a la casa de acogida.",
}
ACCEPT_DAYS = (1, 5)  # days from sending to accepting a referral answered without a contact
CLOSE_MIN = (5, 90)  # minutes from the end of her contact to the referral's completion
# fmt: on
