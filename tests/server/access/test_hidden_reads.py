"""A hidden resource is indistinguishable from a missing one on every read path (DESIGN.md,
"Who may see what"): vread, totals and pages, includes followed through it, chains and
``_has`` through it, history at every level, the entries of a batch or transaction,
and ``$validate``. Each answer about a hidden resource is compared with the answer about
a resource that does not exist, over real HTTP, as an institution outside the case (or
on it, where the mandate then shows some of her record but not all) sees them."""

from __future__ import annotations

from tests.server.access.institutions import POLICE, Institution, missing_id, seen


def _join(centre: Institution, her: dict, org: str) -> None:
    """``org`` manages a case of hers: police-protection then shows them the survivor
    (with THREAT), never the women's centre's incident (HLEGAL only)."""
    centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                   "patient": {"reference": f"Patient/{her['id']}"},
                   "managingOrganization": {"reference": f"Organization/{org}"}})


def _observation(**elements) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "parte"},
            **elements}


def _about(her: dict) -> dict:
    return {"subject": {"reference": f"Patient/{her['id']}"}}


def test_vread_of_a_hidden_version_answers_like_one_of_a_missing_resource(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    gone = centre.create(_observation(**_about(her)))
    assert centre.delete(f"Observation/{gone['id']}").status_code == 204
    assert centre.get(f"Observation/{gone['id']}/_history/2").status_code == 410
    nobody = missing_id()
    for path in ("Patient/{}/_history/1", "Patient/{}/_history/2", "Patient/{}/_history/x",
                 "Observation/{}/_history/1", "Patient/{}/_history",
                 "Patient/{}/_history?_since=2000-01-01T00:00:00Z"):
        for hidden in (her["id"], incident["id"], gone["id"]):
            assert seen(police.get(path.format(hidden))) == \
                seen(police.get(path.format(nobody))), path
    # a deleted version of a hidden resource is not 410 (which would say it existed)
    assert seen(police.get(f"Observation/{gone['id']}/_history/2")) == \
        seen(police.get(f"Observation/{nobody}/_history/2"))
    assert police.get(f"Observation/{gone['id']}/_history/2").status_code == 404


def test_totals_and_every_page_count_only_what_the_caller_may_see(live, record):
    centre, her, _ = record
    police = Institution(live, POLICE, "THREAT")
    for _ in range(2):
        centre.create(_observation(**_about(her)))
    own = {f"Observation/{police.create(_observation(**_about(her)))['id']}"
           for _ in range(3)}
    assert centre.total("Observation") == 3
    for params in ({}, {"subject": f"Patient/{her['id']}"}, {"status": "final"}):
        found, totals = police.pages("Observation", _count="1", _total="accurate", **params)
        assert sorted(found) == sorted(own), params
        assert set(totals) == {3}, params
        assert police.get("Observation", _summary="count", **params).json()["total"] == 3
        assert police.get("Observation", _count="0", **params).json()["total"] == 3
    # without _total: a first page holding every visible match gives the free total
    assert police.get("Observation", _count="10").json()["total"] == 3


def test_includes_never_go_through_a_hidden_resource(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    _join(centre, her, POLICE)
    assert police.get(f"Patient/{her['id']}").status_code == 200
    derived = {"derivedFrom": [{"reference": f"Observation/{incident['id']}"}]}
    theirs = police.create(_observation(**derived))  # about nobody: theirs alone
    ours = centre.create(_observation(**derived))
    forward = {"_include": "Observation:derived-from",
               "_include:iterate": "Observation:subject"}
    backward = {"_revinclude": "Observation:subject",
                "_revinclude:iterate": "Observation:derived-from"}
    # the women's centre sees the whole path ...
    assert centre.ids("Observation", _id=ours["id"], **forward) == {
        ours["id"], incident["id"], her["id"]}
    assert centre.ids("Patient", _id=her["id"], **backward) == {
        her["id"], incident["id"], ours["id"]}
    # ... the police neither the hidden incident nor what only it leads to: her, from
    # their own observation; their own observation, from her
    assert police.ids("Observation", _id=theirs["id"], **forward) == {theirs["id"]}
    assert police.ids("Patient", _id=her["id"], **backward) == {her["id"]}
    assert police.ids("Patient", _id=her["id"], _revinclude="Observation:subject") == {
        her["id"]}
    page = police.get("Observation", _id=theirs["id"], **forward).json()
    assert page["total"] == 1 and len(page["entry"]) == 1


def test_a_chain_through_a_hidden_resource_matches_nothing(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    theirs = police.create(_observation(**_about(her)))
    assert police.ids("Observation", subject=f"Patient/{her['id']}") == {theirs["id"]}
    # her name does not find their own observation through her hidden Patient
    hidden = police.get("Observation", **{"subject:Patient.name": "Reservada"})
    nobody = police.get("Observation", **{"subject:Patient.name": "Nadie"})
    assert seen(hidden, "Reservada") == seen(nobody, "Nadie")
    assert hidden.json()["total"] == 0
    assert centre.ids("Observation", **{"subject:Patient.name": "Reservada"}) == {
        incident["id"]}
    # on the case they see her, and still not through the incident hidden from them
    _join(centre, her, POLICE)
    derived = police.create(_observation(
        derivedFrom=[{"reference": f"Observation/{incident['id']}"}]))
    through = {"derived-from:Observation.subject": f"Patient/{her['id']}"}
    assert police.ids("Observation", **through) == set()
    assert seen(police.get("Observation", **through)) == \
        seen(police.get("Observation", **{"derived-from:Observation.subject":
                                          f"Patient/{missing_id()}"}))
    ours = centre.create(_observation(
        derivedFrom=[{"reference": f"Observation/{incident['id']}"}]))
    assert centre.ids("Observation", **through) == {ours["id"]}
    assert derived["id"] not in centre.ids("Observation", **through)


def test_has_does_not_match_through_a_hidden_resource(live, record):
    centre, her, _ = record  # the incident is final
    police = Institution(live, POLICE, "THREAT")
    _join(centre, her, POLICE)
    police.create(_observation(status="preliminary", **_about(her)))
    assert police.ids("Patient", **{"_has:Observation:subject:status": "preliminary"}) \
        == {her["id"]}
    hidden = police.get("Patient", **{"_has:Observation:subject:status": "final"})
    nobody = police.get("Patient", **{"_has:Observation:subject:status": "amended"})
    assert seen(hidden, "final") == seen(nobody, "amended")
    assert hidden.json()["total"] == 0
    assert centre.ids("Patient", **{"_has:Observation:subject:status": "final"}) == {
        her["id"]}


def test_type_and_system_history_hold_only_what_the_caller_may_see(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    since = her["meta"]["lastUpdated"]
    centre.put(f"Patient/{her['id']}", {**her, "active": True})
    gone = centre.create(_observation(**_about(her)))
    centre.delete(f"Observation/{gone['id']}")
    first = police.create(_observation(**_about(her)))
    police.put(f"Observation/{first['id']}", {**first, "status": "amended"})
    second = police.create(_observation(**_about(her)))
    theirs = [f"Observation/{second['id']}", f"Observation/{first['id']}",
              f"Observation/{first['id']}"]
    hidden = {f"Patient/{her['id']}", f"Observation/{incident['id']}",
              f"Observation/{gone['id']}"}
    assert len(centre.pages("Observation/_history", _since=since)[0]) == 3
    for params in ({}, {"_since": since}, {"_count": "1"}, {"_count": "1", "_since": since}):
        assert police.pages("Observation/_history", **params)[0] == theirs, params
        assert police.pages("Patient/_history", **params)[0] == [], params
        everything = police.pages("_history", **params)[0]
        assert not hidden & set(everything), params
        assert set(theirs) <= set(everything), params
    later = police.get("Patient/_history", _since="2999-01-01T00:00:00Z")
    assert seen(police.get("Patient/_history", _since=since), since) == \
        seen(later, "2999-01-01T00:00:00Z")


def test_batch_and_transaction_entries_about_a_hidden_resource_read_like_missing(
        live, record):
    _, her, incident = record
    police = Institution(live, POLICE, "THREAT")

    def reads(patient: str, observation: str, name: str) -> list[dict]:
        urls = [f"Patient/{patient}", f"Patient/{patient}/_history/1",
                f"Patient/{patient}/_history", f"Observation/{observation}",
                f"Observation?subject=Patient/{patient}",
                f"Observation?subject:Patient.name={name}",
                f"Patient?_id={patient}&_total=accurate"]
        return [{"request": {"method": "GET", "url": url}} for url in urls]

    hidden = police.bundle("batch", *reads(her["id"], incident["id"], "Reservada"))
    nobody = police.bundle("batch", *reads(missing_id(), missing_id(), "Nadie"))
    assert hidden.status_code == 200
    assert seen(hidden, "Reservada") == seen(nobody, "Nadie")
    statuses = [e["response"]["status"] for e in hidden.json()["entry"]]
    assert statuses == ["404 Not Found"] * 4 + ["200 OK"] * 3
    for entry in reads(her["id"], incident["id"], "Reservada")[:4]:
        alone = police.bundle("transaction", entry)
        url = entry["request"]["url"].replace(her["id"], missing_id())
        url = url.replace(incident["id"], missing_id())
        missing = police.bundle("transaction", {"request": {"method": "GET", "url": url}})
        assert alone.status_code == 404
        assert seen(alone) == seen(missing)


def test_validate_says_no_more_about_a_hidden_resource_than_about_a_missing_one(
        live, record):
    _, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    nobody = missing_id()

    def check(target: str) -> tuple:
        return seen(police.post("Observation/$validate", _observation(
            subject={"reference": f"Patient/{target}"},
            derivedFrom=[{"reference": f"Observation/{target}"}])))

    assert check(her["id"]) == check(nobody)
    assert check(her["id"])[0] == 200
    for mode in ("update", "delete"):
        answers = [seen(police.post(f"Patient/{id}/$validate?mode={mode}",
                                    {"resourceType": "Patient", "id": id}))
                   for id in (her["id"], nobody)]
        assert answers[0] == answers[1], mode
        assert answers[0][0] == 404
    for id in (her["id"], incident["id"]):
        type = "Patient" if id == her["id"] else "Observation"
        assert seen(police.get(f"{type}/{id}/$validate")) == \
            seen(police.get(f"{type}/{nobody}/$validate"))
