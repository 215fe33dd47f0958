"""``Narrative.div`` is XML without a DTD: no entity but XML's five predefined ones and
numeric character references, and no markup declaration (``<!DOCTYPE``, ``<!ENTITY``).

XML 1.0 sections 2.4 (a bare ``&`` is not well-formed), 3.1 and 4.1 ("Entity Declared");
the FHIR test case ``xml-bad-entities-json`` (``&reg;`` in a narrative) is the reference
validator's error this rule matches.
"""

from __future__ import annotations

import pytest

from profiles import validate_structure

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def _patient(div: str, **fields) -> dict:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": div}, **fields}


@pytest.mark.parametrize("content", [
    "a &lt; b &gt; c &amp; d &quot;e&quot; &apos;f&apos;",
    "&#174; &#xAE; &#xae; &#8212;",
    "<!-- a comment --> text", "<!-- a & b <!x --> c <!----> d",
    "<![CDATA[ a & b < c <!DOCTYPE ]]> &amp; <!-- &nbsp; -->",
    '<a href="http://x/?a=1&amp;b=2">link</a>',
    "R\u00e9sum\u00e9 \u00ae \u00a0 plain characters",
    "<?xml-stylesheet href='s.css'?>",
])
def test_xml_references_comments_and_plain_characters_are_accepted(content: str) -> None:
    assert validate_structure(_patient(f"<div {XHTML}>{content}</div>")) == []


@pytest.mark.parametrize("content", [
    "&reg;", "&nbsp;", "&copy; 2024", "&AMP;", "&Lt;",  # HTML or misspelt entities
    "a & b", "a &b", "&;", "&#;", "&#x;", "&#X41;", "&#12a;", "&amp",  # not a reference
    '<a href="http://x/?a=1&b=2">link</a>',  # in an attribute value too
    '<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd">]><p>&xxe;</p>',
    "<!ENTITY x 'y'>", "<!ELEMENT p ANY>",
    "<!-- unclosed", "<![CDATA[ unclosed", "<!-- a --> &reg; <!-- b -->",
    "<![CDATA[ a ]]> &bad; <![CDATA[ b ]]>",
])
def test_an_undeclared_entity_or_a_declaration_is_reported(content: str) -> None:
    issues = validate_structure(_patient(f"<div {XHTML}>{content}</div>"))
    assert [(i.severity, i.code, i.expression) for i in issues] == [
        ("error", "value", "Patient.text.div")]


def test_a_hostile_div_is_checked_in_linear_time() -> None:
    """Many unclosed comments or long digit runs must not make the check quadratic."""
    for content in ("<!--" * 200_000, "&#" + "1" * 500_000, "<!-- -->" * 100_000 + "&x;",
                    "&#x" + "a" * 500_000 + "&amp;" * 100_000):
        issues = validate_structure(_patient(f"<div {XHTML}>{content}</div>"))
        assert [i.expression for i in issues] == ["Patient.text.div"]


def test_the_message_never_echoes_the_entity() -> None:
    issues = validate_structure(_patient(f"<div {XHTML}>&VioletaRojas1980;</div>"))
    assert len(issues) == 1 and "Violet" not in issues[0].diagnostics


def test_the_rule_applies_to_contained_resources_and_bundle_entries() -> None:
    bad = f"<div {XHTML}>&reg;</div>"
    patient = _patient(f"<div {XHTML}>ok</div>", contained=[
        {"resourceType": "Organization", "id": "o", "text": {"status": "generated",
                                                            "div": bad}}])
    assert [i.expression for i in validate_structure(patient)] == [
        "Patient.contained[0].text.div"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:0c3a6e8e-9f5c-4d8c-8a43-3b0c5b1b8f0a",
                         "resource": _patient(bad)}]}
    assert [i.expression for i in validate_structure(bundle)] == [
        "Bundle.entry[0].resource.text.div"]


def test_a_div_that_is_no_div_is_reported_once() -> None:
    issues = validate_structure(_patient("<p>&reg;</p>"))
    assert [i.diagnostics for i in issues] == ["the narrative must be an XHTML <div> element"]
