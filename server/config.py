"""Settings, from the environment with safe defaults (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from server.store import store_url


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {value!r}") from None


PROFILE_MODES = ("strict", "claimed", "off")
ACCESS_MODES = ("consent", "permit-all")


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    store: str = field(default_factory=store_url)
    #: Public base URL of the FHIR endpoint (``https://host/fhir``); else taken per request.
    base_url: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 5000
    default_count: int = 20
    max_count: int = 1000
    #: Which writes are checked against the implementation guide's profiles (422 when
    #: they break one): ``strict`` every resource a profile of its type recognises and
    #: every profile it claims that this server holds; ``claimed`` only the claimed
    #: ones (generic FHIR data, e.g. the standard workload); ``off`` none.
    profiles: str = "strict"
    #: Lifetime of an access token, seconds (60 to 3600; SMART suggests at most 300 for
    #: backend services, 600 keeps token requests rare for busy systems).
    token_ttl: int = 600
    #: ``consent``: the access gate decides every read with the consent model and every
    #: request is audited. ``permit-all``: no gate and no audit trail, the baseline the
    #: benchmark measures the gate's cost against; never for real data.
    access: str = "consent"
    #: Where each process spools the audit events of reads before they move into the
    #: store (``server/audit/spool.py``): by default beside a SQLite file
    #: (``<file>.audit-spool``), else ``var/audit-spool``. Local disk, kept across restarts.
    audit_spool: str | None = None
    #: How long a rest-hook subscription may keep failing (status ``error``, retried with
    #: exponential backoff) before it is turned ``off``, seconds.
    subscription_off_after: int = 24 * 3600
    #: The smallest count an indicator publishes (``server/indicators/suppression.py``:
    #: a count from 1 to this minus one is hidden, with complementary suppression).
    indicator_min_cell: int = 5

    def spool_directory(self) -> Path:
        """The audit spool's directory (``audit_spool``, or its default)."""
        if self.audit_spool:
            return Path(self.audit_spool)
        if self.store.startswith("sqlite:///"):
            return Path(self.store.removeprefix("sqlite:///") + ".audit-spool")
        return Path("var/audit-spool")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        settings = cls(
            store=store_url(),
            base_url=os.environ.get("AMPARO_BASE_URL") or None,
            max_body_bytes=_int("AMPARO_MAX_BODY_BYTES", cls.max_body_bytes),
            max_json_depth=_int("AMPARO_MAX_JSON_DEPTH", cls.max_json_depth),
            max_bundle_entries=_int("AMPARO_MAX_BUNDLE_ENTRIES", cls.max_bundle_entries),
            default_count=_int("AMPARO_DEFAULT_COUNT", cls.default_count),
            max_count=_int("AMPARO_MAX_COUNT", cls.max_count),
            profiles=_choice("AMPARO_PROFILES", PROFILE_MODES, cls.profiles),
            token_ttl=_int("AMPARO_TOKEN_TTL", cls.token_ttl),
            access=_choice("AMPARO_ACCESS", ACCESS_MODES, cls.access),
            audit_spool=os.environ.get("AMPARO_AUDIT_SPOOL") or None,
            subscription_off_after=_int("AMPARO_SUBSCRIPTION_OFF_AFTER",
                                        cls.subscription_off_after),
            indicator_min_cell=_int("AMPARO_INDICATOR_MIN_CELL", cls.indicator_min_cell),
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        if settings.indicator_min_cell < 2:
            raise SystemExit(f"AMPARO_INDICATOR_MIN_CELL must be an integer of at least 2, "
                             f"got {settings.indicator_min_cell}")
        if not 60 <= settings.token_ttl <= 3600:
            raise SystemExit(f"AMPARO_TOKEN_TTL must be 60 to 3600 seconds, got "
                             f"{settings.token_ttl}")
        return settings
