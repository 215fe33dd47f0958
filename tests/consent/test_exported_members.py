"""The public API of ``consent`` is pinned, so that it cannot drift silently (httpx's
tests/test_exported_members.py)."""

import consent


def test_consent_exports_exactly_its_public_api() -> None:
    assert consent.__all__ == [
        "ACTIONS", "BREAK_GLASS", "CONFIDENTIALITY", "KINDS", "PURPOSES", "REDACTED",
        "Context", "Decision", "Grant", "Obligation", "PolicyError", "Principal", "Selector",
        "access_basis", "access_keys", "decide", "default_labels", "keys_valid_until",
        "load_policies", "parse_instant", "plain_keys", "policies", "principal_keys", "redact",
        "redactable_types", "redacting", "scope_allows",
    ]


def test_every_exported_name_exists_and_belongs_to_consent() -> None:
    for name in consent.__all__:
        member = getattr(consent, name)
        module = getattr(member, "__module__", "consent")
        assert module.startswith("consent"), name


def test_consent_never_imports_the_server() -> None:
    import subprocess
    import sys

    code = "import consent, sys; print(any(m.split('.')[0] == 'server' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
