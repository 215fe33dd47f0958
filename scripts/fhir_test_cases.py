"""Run Amparo's write-path validator over the FHIR validator test cases and compare verdicts.

The cases come from the upstream manifest of FHIR/fhir-test-cases
(``../shared/reference/fhir-test-cases/validator/manifest.json``, all 974 cases); the
expected outcome is the HL7 reference (Java) validator's, the ``java`` member of each case.

Selection rule (mechanical, from the manifest's metadata only; never from outcomes):

1. ``version`` is 4.0, 4.0.1 or 4.3 (R4 or R4B; no ``version`` means R5 and is left out);
2. the input ``file`` is JSON (``.json``): the server speaks JSON only, so XML inputs are
   skipped;
3. ``use-test`` is not false, and a ``java`` expected outcome exists;
4. the ``module`` is one of the base specification's (none, ``base``, ``general``,
   ``bundle``, ``references``, ``fmt``, ``json5``, ``xhtml``, ``invariants``); the other
   modules concern terminology (``tx``, ``tx-advanced``), profiles and definitions
   (``profile``, ``sd``, ``extensions``, ``questionnaire``, ``measure``, ``xver``), logical
   models (``cda``, ``cdshooks``, ``shc``, ``logical``) or other features (``api``,
   ``security``, ``dsig``, ``matchetype``, ...);
5. the case loads nothing beside its input: none of ``supporting``, ``supporting5``,
   ``profiles``, ``profile``, ``packages``, ``package-map``, ``logical``, ``fetcher``,
   ``tx-dependent``, ``txTests``, ``sct``, ``ips``, ``certificate``, ``matchetype``,
   ``bundle-param``, ``advisor``, ``fhir-validator-cli-options``;
6. the case runs the validator with its default settings: no key other than the
   descriptive ones (name, file, version, module, java, description, documentation,
   explanation, comment, use-test and other implementations' outcomes). A case that sets
   a validator option (``examples``, ``validateReference``, ``allow-comments``,
   ``allowed-extension-domain``, ``security-checks``, ...) tests that option, and the
   server has one fixed setting;
7. the input file is in the shared reference folder (the folder holds a subset of the
   upstream files; absent ones are counted and listed, not run).

Amparo's side is the server's write gate as is: ``server.api.body.parse_json`` (UTF-8 BOM
dropped, orjson, nesting limit) then ``server.validation.validate`` (resource type and
``profiles.validate_structure``). A parse failure counts as one error. A case agrees when
both sides say valid (0 errors) or both say invalid (> 0 errors; errors are issues of
severity error or fatal); the exact error count is compared too, for information.

Usage: python scripts/fhir_test_cases.py [--json] [--r5] [VALIDATOR_DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: make the project importable
    sys.path.insert(0, str(ROOT))

from server import errors  # noqa: E402
from server.api.body import parse_json  # noqa: E402
from server.config import Settings  # noqa: E402
from server.validation import validate  # noqa: E402

VERSIONS = frozenset({"4.0", "4.0.1", "4.3"})
MODULES = frozenset({None, "base", "general", "bundle", "references", "fmt", "json5",
                     "xhtml", "invariants"})
NEEDS = frozenset({"supporting", "supporting5", "profiles", "profile", "packages",
                   "package-map", "logical", "fetcher", "tx-dependent", "txTests", "sct",
                   "ips", "certificate", "matchetype", "bundle-param", "advisor",
                   "fhir-validator-cli-options"})
DESCRIPTIVE = frozenset({"name", "file", "version", "module", "java", "description",
                         "documentation", "explanation", "comment", "use-test",
                         "firely-sdk-current", "firely-sdk-wip", "brianpos",
                         "dotnet-brianpos"})
MAX_DEPTH = Settings.max_json_depth


def default_dir() -> Path:
    shared = os.environ.get("AMPARO_SHARED") or ROOT.parent / "shared"
    return Path(shared) / "reference" / "fhir-test-cases" / "validator"


@dataclass
class Case:
    name: str
    file: str
    version: str | None
    module: str | None
    expected: int  # the reference validator's errors (severity error or fatal)
    expected_messages: list[str]
    errors: int = 0  # Amparo's
    messages: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return (self.expected > 0) == (self.errors > 0)

    def reason(self) -> str:
        """One line: what the side that found errors found."""
        if self.errors:
            return "Amparo: " + "; ".join(_short(m) for m in self.messages[:2]) + (
                f" (+{len(self.messages) - 2})" if len(self.messages) > 2 else "")
        first = self.expected_messages[:2]
        more = len(self.expected_messages) - len(first)
        return "reference: " + " | ".join(_short(m) for m in first) + (
            f" (+{more})" if more > 0 else "")


@dataclass
class Report:
    cases: list[Case]
    skipped: dict[str, list[str]]  # reason -> case names

    @property
    def agree(self) -> list[Case]:
        return [c for c in self.cases if c.agrees]

    @property
    def disagree(self) -> list[Case]:
        return [c for c in self.cases if not c.agrees]

    @property
    def exact(self) -> list[Case]:
        return [c for c in self.cases if c.expected == c.errors]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.agree) / len(self.cases) if self.cases else 0.0


def _short(message: str, width: int = 140) -> str:
    message = " ".join(message.split())
    return message if len(message) <= width else message[: width - 1] + "\u2026"


def skip_reason(case: dict, folder: Path, versions: frozenset = VERSIONS) -> str | None:
    """Why ``case`` is not selected (None when it is); rules 1-7 of the module docstring."""
    if case.get("version") not in versions:
        return "other FHIR version"
    if not case["file"].endswith(".json"):
        return "not JSON (XML input)"
    if case.get("use-test") is False or not case.get("java"):
        return "disabled or no reference outcome"
    if case.get("module") not in MODULES:
        return "module outside the base specification"
    if NEEDS & case.keys():
        return "needs supporting files, profiles, packages or terminology"
    if case.keys() - DESCRIPTIVE:
        return "sets a validator option"
    if not (folder / case["file"]).is_file():
        return "input file not in the shared reference folder"
    return None


def expected_errors(case: dict, folder: Path) -> tuple[int, list[str]]:
    """The reference validator's error count (severity error or fatal) and messages for
    ``case``: its ``java`` member is a path under ``outcomes/`` to an OperationOutcome, or
    inline (an OperationOutcome, or ``errorCount``/``fatalCount`` with ``output`` lines
    and maybe an ``outcome``)."""
    outcome = case["java"]
    if isinstance(outcome, str):
        outcome = json.loads((folder / "outcomes" / outcome).read_text(encoding="utf-8"))
    nested = outcome.get("outcome")
    found = [i for i in (nested if isinstance(nested, dict) else outcome).get("issue", [])
             if i.get("severity") in ("error", "fatal")]
    messages = [(i.get("expression") or [""])[0] + ": " + i.get("details", {}).get(
        "text", i.get("diagnostics", "")) for i in found] or [
        m for m in outcome.get("output", []) if m.startswith(("ERROR", "FATAL"))]
    if "errorCount" in outcome:
        return outcome["errorCount"] + outcome.get("fatalCount", 0), messages
    return len(found), messages


def amparo_errors(raw: bytes) -> list[str]:
    """The server's write gate on ``raw``: every problem as 'expression: message'."""
    try:
        validate(parse_json(raw, MAX_DEPTH))
    except errors.FhirError as exc:
        issues = exc.issues or []
        if not issues:
            return [str(exc)]
        return [f"{', '.join(i.expression)}: {i.diagnostics}" if i.expression
                else i.diagnostics for i in issues]
    return []


def run(folder: Path | None = None, versions: frozenset = VERSIONS) -> Report:
    """Select the cases of ``folder``'s manifest, run the write gate on each, compare.
    ``versions`` ({None} for the R5-default cases) is for information only."""
    folder = folder or default_dir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    cases: list[Case] = []
    skipped: dict[str, list[str]] = {}
    for entry in manifest["test-cases"]:
        reason = skip_reason(entry, folder, versions)
        if reason is not None:
            skipped.setdefault(reason, []).append(entry["name"])
            continue
        expected, expected_messages = expected_errors(entry, folder)
        case = Case(entry["name"], entry["file"], entry.get("version"), entry.get("module"),
                    expected, expected_messages)
        case.messages = amparo_errors((folder / entry["file"]).read_bytes())
        case.errors = len(case.messages)
        cases.append(case)
    return Report(cases, skipped)


def summary(report: Report) -> str:
    lines = [f"selected: {len(report.cases)}",
             f"agree: {len(report.agree)}",
             f"disagree: {len(report.disagree)}",
             f"agreement: {report.percent:.1f}%",
             f"exact error count: {len(report.exact)} of {len(report.cases)}",
             "", "disagreements (expected errors / Amparo's errors):"]
    for case in report.disagree:
        lines.append(f"  {case.name} ({case.file}) {case.expected}/{case.errors}: "
                     f"{case.reason()}")
    lines += ["", "by module (agree / selected):"]
    modules: dict[str, list[Case]] = {}
    for case in report.cases:
        modules.setdefault(case.module or "(none)", []).append(case)
    for module, cases in sorted(modules.items()):
        agree = sum(c.agrees for c in cases)
        lines.append(f"  {module}: {agree}/{len(cases)}")
    lines += ["", "count mismatches among agreements (expected / Amparo's):"]
    for case in report.agree:
        if case.expected != case.errors:
            lines.append(f"  {case.name} ({case.file}) {case.expected}/{case.errors}")
    lines += ["", "not selected (reason: count):"]
    for reason, names in sorted(report.skipped.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"  {reason}: {len(names)}")
    missing = report.skipped.get("input file not in the shared reference folder", [])
    if missing:
        lines.append("  absent inputs: " + ", ".join(missing))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None,
                        help="the validator folder of fhir-test-cases (default: "
                             "../shared/reference/fhir-test-cases/validator)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--r5", action="store_true",
                        help="for information: the cases with no version (run by the "
                             "reference validator against R5) instead of R4/R4B")
    args = parser.parse_args(argv)
    folder = args.folder or default_dir()
    if not (folder / "manifest.json").is_file():
        print(f"{folder}/manifest.json is absent", file=sys.stderr)
        return 2
    report = run(folder, frozenset({None}) if args.r5 else VERSIONS)
    if args.json:
        print(json.dumps({
            "selected": len(report.cases), "agree": len(report.agree),
            "disagree": len(report.disagree), "percent": round(report.percent, 1),
            "exact": len(report.exact),
            "cases": [{"name": c.name, "file": c.file, "expected": c.expected,
                       "amparo": c.errors, "agrees": c.agrees, "reason": c.reason()}
                      for c in report.cases],
            "skipped": {k: len(v) for k, v in report.skipped.items()}}, indent=1))
    else:
        print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
