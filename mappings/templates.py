"""Resource templates: JSON with FHIRPath in ``{{ }}``, evaluated against one converted
record, with what comes out empty pruned.

- a string that is exactly ``{{expr}}`` becomes the value(s) ``expr`` gives: nothing
  (the element is dropped), one value, or, inside an array, each value as an item;
- a string with ``{{expr}}`` among other text has it replaced by the first value's text;
- an object with ``"$when": expr`` is kept only when ``expr`` is true;
- in an array, ``{"$each": expr, "$item": template}`` is one item per value of ``expr``,
  ``template`` filled in with that value as ``%item``;
- objects and arrays left empty are dropped, so optional data needs no conditionals.

Expressions run on fhirpathpy over the record's fields (``run.valid``,
``formas.code``), with the engine's variables (``%key``, ``%Patient``...), and are
compiled once per mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

EXPRESSION = re.compile(r"\{\{(.+?)\}\}")
_WHOLE = re.compile(r"^\{\{(.+)\}\}$", re.S)
_EMPTY = object()


class _Strict(ErrorListener):
    def syntaxError(self, recognizer, offending, line, column, msg, e):  # noqa: N802, ANN001
        raise SyntaxError(f"columna {column}: {msg}")


def check_syntax(expression: str) -> None:
    """SyntaxError unless ``expression`` is FHIRPath: fhirpathpy's own parser recovers
    from syntax errors (``a = = b`` evaluates), so a mapping is checked with the same
    grammar and a listener that does not."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Strict())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Strict())
    parser.expression()
    if parser.getCurrentToken().type != Token.EOF:
        raise SyntaxError("texto sobrante al final")


@cache
def compiled(expression: str) -> Callable[[Any, dict], list]:
    return fhirpathpy.compile(expression.strip())


def evaluate(expression: str, record: dict, variables: dict) -> list:
    return compiled(expression)(record, variables)


def holds(expression: str, record: dict, variables: dict) -> bool:
    """FHIRPath truth: a single ``true`` (an empty result is false)."""
    return evaluate(expression, record, variables) == [True]


def render(template: Any, record: dict, variables: dict) -> Any:
    """``template`` filled in; None when it comes out empty."""
    value = _render(template, record, variables)
    return None if value is _EMPTY else value


def _render(template: Any, record: dict, variables: dict) -> Any:
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole and "{{" not in whole.group(1):
            values = evaluate(whole.group(1), record, variables)
            if not values:
                return _EMPTY
            return values[0] if len(values) == 1 else values
        if "{{" not in template:
            return template
        missing = False

        def one(match: re.Match) -> str:
            nonlocal missing
            values = evaluate(match.group(1), record, variables)
            missing = missing or not values
            return str(values[0]) if values else ""
        text = EXPRESSION.sub(one, template)
        return _EMPTY if missing else text
    if isinstance(template, list):
        items = []
        for item in template:
            if isinstance(item, dict) and "$each" in item:
                for each in evaluate(item["$each"], record, variables):
                    value = _render(item["$item"], record, {**variables, "item": each})
                    if value is not _EMPTY:
                        items.append(value)
                continue
            value = _render(item, record, variables)
            if value is _EMPTY:
                continue
            if isinstance(value, list) and isinstance(item, str):
                items.extend(value)  # a whole-string expression with several values
            else:
                items.append(value)
        return items or _EMPTY
    if isinstance(template, dict):
        if "$when" in template and not holds(template["$when"], record, variables):
            return _EMPTY
        out = {}
        for key, item in template.items():
            if key == "$when":
                continue
            value = _render(item, record, variables)
            if value is not _EMPTY:
                out[key] = value
        return out or _EMPTY
    return template
