"""The ``amparo`` command as CONTRACT.md describes it, run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

AMPARO = str(Path(sys.executable).with_name("amparo"))


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([AMPARO, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def bearer(base: str, cwd: Path, store: str) -> dict[str, str]:
    """Headers with a bearer token of a client made by ``amparo client create``."""
    made = run("client", "create", "--org", "linea-1455", "--name", "cli test", "--store",
               store, cwd=cwd)
    assert made.returncode == 0, made.stderr
    client = json.loads(made.stdout)
    answer = requests.post(f"{base}/fhir/auth/token", timeout=30,
                           auth=(client["client_id"], client["client_secret"]),
                           data={"grant_type": "client_credentials", "scope": "system/*.cruds"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_creates_the_store_and_institutions_and_is_idempotent(tmp_path):
    first = run("init", "--store", "sqlite:///a.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "a.db").exists()
    institutions = json.loads(first.stdout)["institutions"]
    assert institutions > 10
    again = run("init", "--store", "sqlite:///a.db", cwd=tmp_path)
    assert json.loads(again.stdout)["institutions"] == institutions


def test_the_store_comes_from_amparo_store_when_not_given(tmp_path):
    result = run("init", cwd=tmp_path, env={"AMPARO_STORE": "sqlite:///from-env.db"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env.db").exists()


def test_a_bad_store_url_fails_with_a_message_and_non_zero_status(tmp_path):
    result = run("init", "--store", "postgres://nope", cwd=tmp_path)
    assert result.returncode != 0
    assert "amparo:" in result.stderr and "Traceback" not in result.stderr


def test_demo_loads_synthetic_cases_and_prints_json(tmp_path):
    result = run("demo", "--store", "sqlite:///demo.db", "--cases", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["loaded"]["Patient"] == 4
    assert printed["loaded"]["Encounter"] >= 4
    clients = {c["institution"]: c for c in printed["clients"]}
    assert {"Organization/linea-1455", "Organization/carabineros",
            "Organization/fiscalia-nacional", "Organization/sernameg"} <= set(clients)
    assert all(c["client_id"] and c["client_secret"] for c in clients.values())
    assert "BTG" in clients["Organization/linea-1455"]["purposes_of_use"]
    assert printed["token_endpoint"].endswith("/fhir/auth/token")
    again = json.loads(run("demo", "--store", "sqlite:///demo.db", "--cases", "4",
                           cwd=tmp_path).stdout)
    assert again["loaded"] == printed["loaded"]  # conditional creates: nothing doubled
    # the same clients, with new secrets (only hashes are stored, so they cannot be shown)
    assert [c["client_id"] for c in again["clients"]] == [c["client_id"] for c in
                                                          printed["clients"]]
    assert again["clients"][0]["client_secret"] != printed["clients"][0]["client_secret"]


def test_client_create_registers_a_secret_client_and_prints_its_credentials(tmp_path):
    assert run("init", "--store", "sqlite:///c.db", cwd=tmp_path).returncode == 0
    result = run("client", "create", "--org", "carabineros", "--name", "Sistema AUPOL",
                 "--scopes", "system/Patient.rs system/Observation.cruds", "--purposes",
                 "THREAT,BTG", "--store", "sqlite:///c.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the institution exists: no warning
    printed = json.loads(result.stdout)
    assert printed["client_id"] and len(printed["client_secret"]) >= 40
    assert printed["institution"] == "Organization/carabineros"
    assert printed["scopes"] == "system/Observation.cruds system/Patient.rs"
    assert printed["purposes_of_use"] == ["THREAT", "BTG"]
    import sqlite3

    with sqlite3.connect(tmp_path / "c.db") as db:  # only a salted hash is stored
        stored = db.execute("SELECT secret_hash FROM oauth_client").fetchone()[0]
    assert stored.startswith("scrypt$") and printed["client_secret"] not in stored


def test_client_create_with_a_jwks_registers_a_private_key_jwt_client(tmp_path):
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    result = run("client", "create", "--org", "pdi", "--name", "PDI", "--jwks", "jwks.json",
                 "--store", "sqlite:///c.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert "client_secret" not in printed
    assert printed["token_endpoint_auth_method"] == "private_key_jwt"
    assert "warning" in result.stderr  # Organization/pdi is not in this store


def test_client_create_refuses_bad_arguments_with_a_message(tmp_path):
    (tmp_path / "private.json").write_text(json.dumps({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "k", "x": "x", "y": "y", "d": "d"}]}))
    for args, reason in (
        (["--purposes", "NOPE"], "not a purpose of use"),
        (["--scopes", "patient/*.read"], "not a SMART system scope"),
        (["--scopes", "system/Nope.rs"], "not a SMART system scope"),
        (["--jwks", "missing.json"], "cannot read"),
        (["--jwks", "private.json"], "private key"),
    ):
        result = run("client", "create", "--org", "pdi", "--name", "PDI", *args, "--store",
                     "sqlite:///c.db", cwd=tmp_path)
        assert result.returncode == 1, args
        assert reason in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_keys_rotate_makes_a_new_signing_key_and_names_the_previous_one(tmp_path):
    first = json.loads(run("keys", "rotate", "--store", "sqlite:///k.db", cwd=tmp_path).stdout)
    second = json.loads(run("keys", "rotate", "--store", "sqlite:///k.db", cwd=tmp_path).stdout)
    assert first["previous"] == [] and second["previous"] == [first["kid"]]
    assert second["kid"] != first["kid"]


def test_synth_writes_deterministic_bundles_and_ndjson(tmp_path):
    for out in ("one", "two"):
        result = run("synth", "--cases", "3", "--seed", "7", "--out", out, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "transactions.ndjson").read_bytes() == (two / "transactions.ndjson").read_bytes()
    bundles = sorted((one / "bundles").glob("*.json"))
    assert bundles and json.loads(bundles[0].read_text())["type"] == "transaction"


def test_migrate_copies_a_store_checks_counts_and_refuses_what_it_cannot_copy(tmp_path):
    loaded = run("demo", "--store", "sqlite:///src.db", "--cases", "2", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    copied = run("migrate", "--from", "sqlite:///src.db", "--to", "sqlite:///dst.db",
                 "--batch", "40", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    summary = json.loads(copied.stdout)
    assert summary["copied"] == summary["versions"] > 40
    for type, count in json.loads(loaded.stdout)["loaded"].items():
        assert summary["resources_by_type"][type] == count, type
    again = json.loads(run("migrate", "--from", "sqlite:///src.db", "--to",
                           "sqlite:///dst.db", cwd=tmp_path).stdout)
    assert (again["copied"], again["resumed_after"]) == (0, summary["versions"])
    back = run("demo", "--store", "sqlite:///dst.db", "--cases", "2", cwd=tmp_path)
    assert json.loads(back.stdout)["loaded"] == json.loads(loaded.stdout)["loaded"]

    assert run("init", "--store", "sqlite:///other.db", cwd=tmp_path).returncode == 0
    for target, reason in (("sqlite:///other.db", "not from this source"),
                           ("postgres://nope", "unsupported store URL"),
                           ("sqlite:///src.db", "same store")):
        refused = run("migrate", "--from", "sqlite:///src.db", "--to", target, cwd=tmp_path)
        assert refused.returncode == 1, target
        assert "amparo:" in refused.stderr and reason in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr


def test_serve_runs_production_workers_and_stops_gracefully_on_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen([AMPARO, "serve", "--store", "sqlite:///s.db", "--port", str(port),
                             "--workers", "2", "--threads", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        auth = bearer(base, tmp_path, "sqlite:///s.db")
        assert requests.get(f"{base}/fhir/Patient", timeout=5).status_code == 401
        for _ in range(8):  # requests reach both workers: each verifies the token
            created = requests.post(f"{base}/fhir/Patient",
                                    json={"resourceType": "Patient", "name": [{"text": "Ana"}]},
                                    headers={"Content-Type": "application/fhir+json", **auth},
                                    timeout=5)
            assert created.status_code == 201
        metadata = requests.get(f"{base}/fhir/metadata", timeout=5).json()
        assert metadata["software"]["name"] == "Amparo"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert output.lower().count("started worker") == 2, output


def test_sigterm_lets_an_in_flight_transaction_finish(tmp_path):
    port = free_port()
    proc = subprocess.Popen([AMPARO, "serve", "--store", "sqlite:///g.db", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        auth = bearer(base, tmp_path, "sqlite:///g.db")
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{i}",
             "resource": {"resourceType": "Patient", "name": [{"text": "Ana"}]},
             "request": {"method": "POST", "url": "Patient"}} for i in range(3000)]}
        result: dict = {}

        def send() -> None:
            result["status"] = requests.post(
                f"{base}/fhir", json=bundle, timeout=60,
                headers={"Content-Type": "application/fhir+json",
                         "Prefer": "return=minimal", **auth}).status_code

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)  # the transaction is being processed
        proc.send_signal(signal.SIGTERM)
        sender.join(timeout=60)
        assert result.get("status") == 200
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    check = run("demo", "--store", "sqlite:///g.db", "--cases", "1", cwd=tmp_path)
    assert json.loads(check.stdout)["loaded"]["Patient"] >= 3000


def test_a_mongodb_store_that_cannot_be_reached_fails_with_a_clear_message(tmp_path):
    url = "mongodb://127.0.0.1:1/amparo?serverSelectionTimeoutMS=200"
    for command in (["init", "--store", url], ["serve", "--store", url, "--port", "1"]):
        result = run(*command, cwd=tmp_path)
        assert result.returncode == 1, result
        assert "cannot reach MongoDB at 127.0.0.1" in result.stderr
        assert "Traceback" not in result.stderr


# amparo ig ---------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_ig_package_writes_the_fhir_package_and_prints_a_summary(tmp_path):
    import tarfile

    result = run("ig", "package", "--out", "ig.tgz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    written = tmp_path / "ig.tgz"
    assert summary["path"] == str(written)
    assert summary["size"] == written.stat().st_size
    assert summary["resources"]["StructureDefinition"] >= 26
    with tarfile.open(written, "r:gz") as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
    assert manifest["name"] == summary["name"] == "cl.amparo.ig"
    default = run("ig", "package", cwd=tmp_path)  # package.tgz in the working directory
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "package.tgz").read_bytes() == written.read_bytes()


def test_ig_package_that_cannot_write_fails_with_a_message(tmp_path):
    result = run("ig", "package", "--out", str(tmp_path / "missing" / "p.tgz"), cwd=tmp_path)
    assert result.returncode == 1
    assert "amparo: ig package" in result.stderr and "Traceback" not in result.stderr


def test_ig_docs_writes_the_pages_and_the_committed_ones_are_current(tmp_path):
    result = run("ig", "docs", "--out", "pages", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pages = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "pages").glob("*.md")}
    assert json.loads(result.stdout)["pages"] == len(pages)
    assert {"index.md", "terminologia.md", "Survivor.md", "ext-contacto-seguro.md"} <= set(pages)
    survivor = pages["Survivor.md"]
    for part in ("## Elementos", "## Invariantes", "`amp-sur-1`", "## Extensiones que usa",
                 "## Ejemplo", '"resourceType": "Patient"'):
        assert part in survivor, part
    assert "(Survivor.md)" in pages["index.md"]
    committed = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "docs/ig").glob("*.md")}
    assert committed == pages, "docs/ig is stale: run `amparo ig docs`"


def test_reindex_rebuilds_lost_index_values_and_prints_a_summary(tmp_path):
    import sqlite3

    init = run("init", "--store", "sqlite:///r.db", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    institutions = json.loads(init.stdout)["institutions"]
    with sqlite3.connect(tmp_path / "r.db") as db:  # a store indexed before its parameters
        tokens = db.execute("SELECT count(*) FROM idx_token").fetchone()[0]
        db.execute("DELETE FROM idx_token")
    result = run("reindex", "--store", "sqlite:///r.db", "--batch", "50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["store"] == "sqlite:///r.db"
    assert summary["reindexed"]["Organization"] == institutions
    assert summary["reindexed"]["SearchParameter"] > 0
    assert summary["total"] == sum(summary["reindexed"].values())
    assert summary["seconds"] >= 0
    with sqlite3.connect(tmp_path / "r.db") as db:
        assert db.execute("SELECT count(*) FROM idx_token").fetchone()[0] == tokens
    only = run("reindex", "--store", "sqlite:///r.db", "--type", "Organization", cwd=tmp_path)
    assert json.loads(only.stdout)["reindexed"] == {"Organization": institutions}
    unknown = run("reindex", "--store", "sqlite:///r.db", "--type", "Nope", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "Nope" in unknown.stderr and "Traceback" not in unknown.stderr


def test_audit_verify_exits_0_on_an_intact_trail_and_1_at_its_first_break(tmp_path):
    import sqlite3

    from server import clock
    from server.audit.events import Interaction, audit_event
    from server.audit.trail import append
    from server.store import open_store

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    store.init()
    ids = []
    with store.unit_of_work() as uow:
        for i in range(3):
            event = audit_event(Interaction("read", (f"Observation/{i}",), "Patient/p"),
                                recorded="2026-11-28T10:00:00-03:00", permitted=True,
                                client_id="cliente", institution="Organization/cdm")
            ids.append(append(uow, event, clock.now()))
        uow.commit()
    store.close()
    intact = run("audit", "verify", "--store", url, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.strip() == "audit trail intact: 3 events checked, head at position 3"
    with sqlite3.connect(tmp_path / "audit.db") as db:  # change the second event's outcome
        db.execute("UPDATE audit_event SET body = CAST(replace(CAST(body AS TEXT), "
                   "'\"outcome\":\"0\"', '\"outcome\":\"4\"') AS BLOB) WHERE id = ?",
                   (ids[1],))
    broken = run("audit", "verify", cwd=tmp_path, env={"AMPARO_STORE": url})
    assert broken.returncode == 1
    assert broken.stdout.startswith(f"audit trail broken at position 2 (AuditEvent/{ids[1]})")
    assert "altered" in broken.stdout and "Traceback" not in broken.stderr


def test_audit_verify_of_a_store_that_does_not_exist_fails_with_a_message(tmp_path):
    result = run("audit", "verify", "--store", "sqlite:///nowhere.db", cwd=tmp_path)
    assert result.returncode == 1
    assert "amparo: audit verify" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "nowhere.db").exists()
