"""The ``amparo`` command (CONTRACT.md, "Command line"). Every command that touches a
store takes ``--store URL`` and otherwise uses ``AMPARO_STORE``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from server.config import Settings

if TYPE_CHECKING:
    from server.api.router import Context

STORE_HELP = ("store URL (sqlite:///path.db or mongodb://host/db); default: $AMPARO_STORE or "
              "sqlite:///var/amparo.db")


def _settings(store: str | None) -> Settings:
    return Settings.from_env(store=store)


def _fail(message: str) -> None:
    click.echo(f"amparo: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Amparo: FHIR R4B exchange server for violence-against-women case management."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--workers", default=None, type=int, help="processes (default: one per core)")
@click.option("--threads", default=2, show_default=True, type=int, help="threads per process")
@click.option("--ws-port", default=8081, show_default=True, type=click.IntRange(0, 65535),
              envvar="AMPARO_WS_PORT",
              help="port of the subscriptions' websocket channel (0: none)")
def serve(host: str, port: int, store: str | None, workers: int | None, threads: int,
          ws_port: int) -> None:
    """Serve the FHIR API in the foreground until SIGTERM/SIGINT."""
    from server.serve import serve as run
    from server.store import open_store

    settings = _settings(store)
    try:
        opened = open_store(settings.store)
    except ValueError as exc:
        _fail(str(exc))
    from server.auth.keys import ensure

    opened.init()
    ensure(opened)  # the token signing key, made once rather than by each worker
    opened.close()  # each worker process opens its own connections
    run(settings, host, port, workers, threads, ws_port)


@main.command()
@click.option("--mapping", "name", default=None, metavar="NAME",
              help="the mapping of mappings/ to read FILE with (amparo ingest --list)")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="map and check every record, store nothing")
@click.option("--report", "report_file", default=None, type=click.Path(dir_okay=False),
              help="write every record's outcome and reasons: .csv, or .json (an "
                   "OperationOutcome)")
@click.option("--extracted", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="the file's extraction date (events later than it are rejected; "
                   "default: today)")
@click.option("--list", "list_only", is_flag=True, help="name the mappings and stop")
@click.option("--store", default=None, help=STORE_HELP)
def ingest(name: str | None, file: str | None, dry_run: bool, report_file: str | None,
           extracted, list_only: bool, store: str | None) -> None:
    """Map an institution's export FILE to FHIR and store it, one transaction per record
    (bad records are rejected one by one with the reason; re-running a file adds nothing
    twice)."""
    import mappings
    from mappings.readers import read
    from server import ingest as ingestion
    from server.access import AccessGate
    from server.ingest_report import write_report
    from server.linkage.review import pending
    from server.repository import Repository
    from server.store import open_store

    if list_only:
        for known in mappings.names():
            click.echo(f"{known}\t{mappings.load(known)['title']}")
        return
    if not name or not file:
        _fail("ingest needs --mapping NAME and FILE (or --list)")
    try:
        mapping = mappings.load(name)
    except KeyError:
        _fail(f"no mapping {name!r}; amparo ingest --list names them")
    except mappings.MappingError as exc:
        _fail(f"the mapping is not valid: {exc}")
    settings = _settings(store)
    data = Path(file).read_bytes()
    database = open_store(settings.store)
    try:
        database.init()
        total = sum(1 for _ in read(mapping["reader"], data))  # records, not lines
        with click.progressbar(length=max(total, 1), label=Path(file).name,
                               file=sys.stderr) as bar:
            summary = ingestion.ingest(database, settings, mapping, data, Path(file).name,
                                       dry_run=dry_run,
                                       extracted=extracted.date() if extracted else None,
                                       progress=lambda result: bar.update(1))
        awaiting = len(pending(Repository(database, AccessGate(database), settings.profiles)))
    except mappings.Unreadable as exc:
        _fail(f"{file}: {exc}")
    finally:
        database.close()
    if report_file:
        write_report(summary, Path(report_file))
    click.echo(json.dumps({"mapping": name, "file": Path(file).name, "dryRun": dry_run,
                           "records": len(summary.results), **summary.counts,
                           "warnings": sum(len([i for i in r.issues if i.severity == "warning"])
                                           for r in summary.results),
                           "candidateLinksAwaitingReview": awaiting},
                          ensure_ascii=False))


@main.command()
@click.option("--store", default=None, help=STORE_HELP)
def init(store: str | None) -> None:
    """Create schema and indexes; load the conformance resources (profiles, terminology,
    search parameters) and the institutions. Idempotent."""
    from server.loading import initialise

    settings = _settings(store)
    try:
        summary = initialise(settings)
    except ValueError as exc:
        _fail(str(exc))
    click.echo(json.dumps(summary, ensure_ascii=False))


@main.command()
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--cases", default=25, show_default=True, type=int)
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--base-url", default="http://127.0.0.1:8080/fhir", show_default=True)
def demo(store: str | None, cases: int, seed: int, base_url: str) -> None:
    """init, then load demo institutions and synthetic cases; print credentials JSON."""
    from server.loading import demo_clients, initialise, load_demo

    settings = _settings(store)
    try:
        initialise(settings)
        loaded = load_demo(settings, cases, seed)
        clients = demo_clients(settings)
    except ValueError as exc:
        _fail(str(exc))
    click.echo(json.dumps({
        "fhir_base": base_url,
        "store": settings.store,
        "loaded": loaded,
        "token_endpoint": f"{base_url}/auth/token",
        "clients": clients,
    }, ensure_ascii=False, indent=2))


def _words(text: str | None) -> list[str] | None:
    """Space- or comma-separated words; None when not given."""
    return None if text is None else text.replace(",", " ").split()


@main.group()
def client() -> None:
    """OAuth clients of the partner institutions' systems (SMART Backend Services)."""


@client.command("create")
@click.option("--org", required=True, metavar="ORG_ID",
              help="the client's institution: Organization/ORG_ID")
@click.option("--name", required=True, help="the system's name")
@click.option("--scopes", default=None, metavar="S",
              help="allowed SMART system scopes, space- or comma-separated "
                   "(default: system/*.cruds)")
@click.option("--purposes", default=None, metavar="P",
              help="allowed purposes of use, HL7 v3 PurposeOfUse codes, space- or "
                   "comma-separated (COC TREAT THREAT HLEGAL PUBHLTH BTG; default: TREAT)")
@click.option("--jwks", "jwks_file", default=None, type=click.Path(dir_okay=False,
              path_type=Path), help="JSON Web Key Set of the client's public keys: it "
              "authenticates with private_key_jwt instead of a secret")
@click.option("--store", default=None, help=STORE_HELP)
def client_create(org: str, name: str, scopes: str | None, purposes: str | None,
                  jwks_file: Path | None, store: str | None) -> None:
    """Register a client of institution Organization/ORG_ID; print its credentials as
    JSON (the secret is shown only here: only its hash is stored)."""
    from server.auth.clients import register
    from server.store import open_store

    settings = _settings(store)
    opened = None
    try:
        jwks = jwks_file.read_text(encoding="utf-8") if jwks_file is not None else None
        opened = open_store(settings.store)
        opened.init()
        registered = register(opened, org, name, _words(scopes), _words(purposes), jwks)
        institution = registered.client.institution
        if opened.read("Organization", institution.split("/", 1)[1]) is None:
            click.echo(f"amparo: warning: {institution} is not in the store (run amparo "
                       "init, or check the id)", err=True)
    except OSError as exc:
        _fail(f"client create: cannot read {jwks_file}: {exc.strerror or exc}")
    except ValueError as exc:
        _fail(f"client create: {exc}")
    finally:
        if opened is not None:
            opened.close()
    click.echo(json.dumps(registered.credentials(), ensure_ascii=False, indent=2))


@main.group()
def keys() -> None:
    """The keys that sign access tokens (kept in the store)."""


@keys.command("rotate")
@click.option("--store", default=None, help=STORE_HELP)
def keys_rotate(store: str | None) -> None:
    """Make a new signing key: it signs from now on (every server process within 30 s);
    the previous ones keep verifying until the tokens they signed have expired."""
    from server.auth.keys import rotate
    from server.store import open_store

    settings = _settings(store)
    opened = None
    try:
        opened = open_store(settings.store)
        opened.init()
        previous = [key.kid for key in opened.signing_keys()]
        key = rotate(opened)
    except ValueError as exc:
        _fail(f"keys rotate: {exc}")
    finally:
        if opened is not None:
            opened.close()
    click.echo(json.dumps({"kid": key.kid, "previous": previous[:1]}, ensure_ascii=False))


@main.command()
@click.option("--cases", required=True, type=click.IntRange(min=1))
@click.option("--seed", required=True, type=int)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
def synth(cases: int, seed: int, out: Path) -> None:
    """Write deterministic synthetic survivor journeys (transaction bundles and NDJSON)."""
    from server.synth import write

    summary = write(cases, seed, out)
    click.echo(json.dumps(_jsonable(summary), ensure_ascii=False))


@main.command()
@click.option("--from", "source_url", required=True, metavar="URL", help="store to copy")
@click.option("--to", "target_url", required=True, metavar="URL",
              help="store to copy into: empty, or an earlier copy of --from (resumes it)")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(min=1),
              help="versions per atomic batch")
def migrate(source_url: str, target_url: str, batch: int) -> None:
    """Copy a whole store (every version, index values, outbox) between SQLite and
    MongoDB; run it again to resume. Prints a JSON summary after a count check."""
    import sqlite3

    from pymongo.errors import PyMongoError

    from server.store import open_store
    from server.store.migrate import migrate as copy

    if source_url == target_url:
        _fail("--from and --to name the same store")
    opened = []
    try:
        for url in (source_url, target_url):
            opened.append(open_store(url))
            opened[-1].init()
        source, target = opened
        with click.progressbar(length=source.version_count(), label="copying versions",
                               file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = copy(source, target, batch, progress)
    except (ValueError, OSError, sqlite3.Error, PyMongoError) as exc:
        _fail(f"migrate: {exc}")
    finally:
        for store in opened:
            store.close()
    click.echo(json.dumps({"from": source_url, "to": target_url, **_jsonable(report)},
                          ensure_ascii=False))


@main.command()
@click.option("--store", default=None, help=STORE_HELP)
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="only this resource type (repeat for more); default: every type")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1),
              help="resources per atomic batch")
def reindex(store: str | None, types: tuple[str, ...], batch: int) -> None:
    """Recompute the search index values and access keys of every current resource
    after the search parameters changed; no new versions. Prints a JSON summary."""
    import sqlite3

    from pymongo.errors import PyMongoError

    from server.search.definitions import resource_types
    from server.store import open_store
    from server.store.reindex import reindex as rebuild

    unknown = sorted(set(types) - resource_types())
    if unknown:
        _fail(f"reindex: not an R4B resource type: {', '.join(unknown)}")
    settings = _settings(store)
    opened = None
    try:
        opened = open_store(settings.store)
        opened.init()
        with click.progressbar(length=0, label="reindexing resources",
                               file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = rebuild(opened, types or None, batch, progress)
    except (ValueError, OSError, sqlite3.Error, PyMongoError) as exc:
        _fail(f"reindex: {exc}")
    finally:
        if opened is not None:
            opened.close()
    click.echo(json.dumps({"store": settings.store, **_jsonable(report)}, ensure_ascii=False))


@main.group()
def audit() -> None:
    """The audit trail: one AuditEvent per interaction, hash-chained."""


@audit.command("verify")
@click.option("--store", default=None, help=STORE_HELP)
def audit_verify(store: str | None) -> None:
    """Check the audit trail's hash chain against the store; exit status 0 only if it
    is intact, else print its first break (position, event, reason) and exit 1."""
    import sqlite3

    from pymongo.errors import PyMongoError

    from server.audit.trail import check
    from server.store import open_store
    from server.store.sqlite import path_of

    settings = _settings(store)
    if settings.store.startswith("sqlite:///") and not path_of(settings.store).exists():
        _fail(f"audit verify: there is no store at {settings.store}")  # not an empty trail
    opened = None
    try:
        opened = open_store(settings.store)
        opened.init()  # a store made before the trail existed gets its head table
        report = check(opened)
    except (ValueError, OSError, sqlite3.Error, PyMongoError) as exc:
        _fail(f"audit verify: {exc}")
    finally:
        if opened is not None:
            opened.close()
    broken = report.broken
    if broken is None:
        click.echo(f"audit trail intact: {report.checked} events checked, "
                   f"head at position {report.head[0]}")
        return
    event = f"AuditEvent/{broken.id}" if broken.id else "no event"
    click.echo(f"audit trail broken at position {broken.position} ({event}): "
               f"{broken.reason}; {report.checked} events checked")
    sys.exit(1)


@main.group()
def linkage() -> None:
    """Candidate links between survivors' records, for the platform's staff to review
    (those an ingestion proposed: no institution sees them)."""


@contextmanager
def _platform(store: str | None) -> Iterator[Context]:
    """A context for the platform's own interactions, audited with the OS user."""
    import getpass

    from server.access import ANONYMOUS, AccessGate
    from server.api.router import Context
    from server.linkage.review import platform_context
    from server.loading import INTERNAL_BASE
    from server.repository import Repository
    from server.store import open_store

    settings = _settings(store)
    opened = open_store(settings.store)
    try:
        opened.init()
        ctx = Context(Repository(opened, AccessGate(opened), settings.profiles), settings,
                      ANONYMOUS, settings.base_url or INTERNAL_BASE)
        yield platform_context(ctx, getpass.getuser())
    finally:
        opened.close()


@linkage.command("list")
@click.option("--store", default=None, help=STORE_HELP)
def linkage_list(store: str | None) -> None:
    """One JSON line per candidate link: the record to keep, the one to fold into it,
    why they are probably one woman, and who proposed it."""
    from server.linkage.review import pending

    with _platform(store) as ctx:
        for candidate in pending(ctx.repo):
            click.echo(json.dumps({"id": candidate.id, "keep": candidate.keep,
                                   "fold": candidate.fold, "reasons": candidate.reasons,
                                   "proposedBy": candidate.proposer}, ensure_ascii=False))


@linkage.command("confirm")
@click.argument("link_id")
@click.option("--store", default=None, help=STORE_HELP)
def linkage_confirm(link_id: str, store: str | None) -> None:
    """Merge the link's record to fold into its record to keep (Patient/$merge: her
    records and cases become one; Patient/$unmerge undoes it)."""
    from server.errors import FhirError
    from server.linkage.review import confirm

    with _platform(store) as ctx:
        try:
            answer = confirm(ctx, link_id)
        except FhirError as exc:
            _fail(f"linkage confirm: {_explained(exc)}")
    outcome = next(p["resource"] for p in answer["parameter"] if p["name"] == "outcome")
    for issue in outcome["issue"]:
        click.echo(issue["diagnostics"])


@linkage.command("reject")
@click.argument("link_id")
@click.option("--store", default=None, help=STORE_HELP)
def linkage_reject(link_id: str, store: str | None) -> None:
    """Delete the candidate link: they are two women (its history keeps it)."""
    from server.errors import FhirError
    from server.linkage.review import reject

    with _platform(store) as ctx:
        try:
            reject(ctx, link_id)
        except FhirError as exc:
            _fail(f"linkage reject: {_explained(exc)}")
    click.echo(f"Linkage/{link_id} rechazado")


def _explained(error: Exception) -> str:
    """A FHIR error's message with its issues' diagnostics."""
    details = [i.diagnostics for i in getattr(error, "issues", ()) if i.diagnostics]
    return "; ".join([str(error), *details])


@main.group()
def ig() -> None:
    """The implementation guide: its FHIR package and its readable pages."""


@ig.command("package")
@click.option("--out", default="package.tgz", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="file to write")
def ig_package(out: Path) -> None:
    """Write the IG as a FHIR package (package.tgz); print a JSON summary."""
    from profiles.package import build_package

    try:
        summary = build_package(out)
    except OSError as exc:
        _fail(f"ig package: cannot write {out}: {exc.strerror or exc}")
    click.echo(json.dumps({"path": str(out.resolve()), **_jsonable(summary)},
                          ensure_ascii=False))


@ig.command("docs")
@click.option("--out", default="docs/ig", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="folder to write into")
def ig_docs(out: Path) -> None:
    """Write the IG's pages (index, one per profile and extension, terminology) as
    Markdown; print a JSON summary."""
    from profiles.docs import write_docs

    try:
        written = write_docs(out)
    except OSError as exc:
        _fail(f"ig docs: cannot write into {out}: {exc.strerror or exc}")
    click.echo(json.dumps({"path": str(out.resolve()), "pages": len(written)},
                          ensure_ascii=False))


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)  # type: ignore[arg-type]
    return value


@main.command()
@click.option("--period", required=True, metavar="P",
              help="a year (2025) or a month (2025-03)")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder to write the CSV files and charts into")
@click.option("--store", default=None, help=STORE_HELP)
def report(period: str, out: Path, store: str | None) -> None:
    """Write the indicators of period P as CSV and charts into OUT (README,
    "Indicators"); print a JSON summary."""
    from server.indicators.cli import run_report

    try:
        settings = _settings(store)
        summary = run_report(settings.store, period, out, settings.indicator_min_cell)
    except (ValueError, OSError) as exc:
        _fail(f"report: {exc}")
    click.echo(json.dumps(summary, ensure_ascii=False))
