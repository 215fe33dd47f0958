"""FHIRPath compiled to Python closures, for the subset profile invariants use, with
fhirpathpy as the reference and the fallback.

fhirpathpy interprets its ANTLR tree on every evaluation (dictionaries of node kinds,
``ResourceNode`` wrappers, a registry lookup per function call): 0.2-4 ms per invariant.
This module walks the same tree (``fhirpathpy.parser.parse``) once and builds nested
Python functions over plain lists of JSON values, so an invariant costs microseconds.

Equivalence with fhirpathpy is the contract, quirks included (``tests/profiles/
test_fhirpath.py`` checks every IG invariant on every IG example with both):

- three-valued ``and``/``or``/``xor``/``implies``, evaluating both operands (an
  operand that is not a single boolean raises, as in fhirpathpy);
- ``=`` compares the first items of two collections of the same length, ``<`` & co.
  compare singletons of the same kind (strings, numbers, booleans; FHIR dates are
  strings to fhirpathpy unless a date literal is involved, which is not compiled);
- ``$this`` is the mutable variable fhirpathpy keeps in its context (set by every
  operand and lambda, and left set afterwards), emulated at the same points;
- what fhirpathpy knows of a value's type (its model path: choice types, ``ofType``,
  Quantity comparison) is worked out at compile time, per resource type of the root
  and of ``%resource``: a compiled form is made for each pair met.

Anything outside the subset raises ``Unsupported`` while compiling and the expression
(for that resource type) is evaluated by fhirpathpy; a situation met at run time that
the fast path does not reproduce exactly (a type error fhirpathpy raises on, data of an
unexpected shape) makes that one evaluation go to fhirpathpy, which then returns its
result or raises its error.

Subset: literals (string, number, boolean, ``{}``), member access (choice types by the
model, ``_x`` primitive extensions, ``Resource.`` type prefix on the root), ``$this``,
``%resource``/``%context``/``%ucum``, indexers with a literal index, unary minus on a
number literal, ``= != < <= > >=``, ``and or xor implies``, ``+ - * / div mod &``,
``|``, ``in``/``contains``, and the functions ``where select exists all empty count
first last tail not isDistinct distinct iif matches length substring startsWith
endsWith contains indexOf upper lower trim toInteger toString today extension ofType
intersect union combine``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import fhirpathpy
from fhirpathpy.engine import check_integer_param, check_string_param
from fhirpathpy.engine.evaluators import number_literal, string_literal
from fhirpathpy.engine.invocations import collections as fp_collections
from fhirpathpy.engine.invocations import logic, misc, strings
from fhirpathpy.engine.invocations.subsetting import intersect_fn
from fhirpathpy.engine.nodes import FP_DateTime, TypeInfo
from fhirpathpy.engine.util import is_capitalized, uniq
from fhirpathpy.models import models

__all__ = ["Unsupported", "compile", "compile_fast"]

Compiled = Callable[[Any, "dict | None"], list]


class Unsupported(Exception):
    """The expression uses something the fast path does not compile."""


class _Fallback(Exception):
    """At run time: this evaluation must be fhirpathpy's."""


# -- static types --------------------------------------------------------------------
# A collection's type is a frozenset of what its items may be: ("n", path) for an item
# fhirpathpy holds as a ResourceNode with that model path (None, or UNKNOWN when it
# depends on the data), ("r", resourceType) for a raw resource dict (the root,
# %resource) and ("r", None) for a raw primitive (literals, function results).

UNKNOWN = "?"
PRIM = frozenset({("r", None)})
EMPTY: frozenset = frozenset()
_DATE_PATHS = {"date", "dateTime", "time"}


def _nodes(ty: frozenset) -> set:
    return {p for kind, p in ty if kind == "n"}


def _raws(ty: frozenset) -> set:
    return {p for kind, p in ty if kind == "r"}


class _Env:
    """One evaluation's state: the root collection, fhirpathpy's ``$this`` (None until
    first set) and the environment variables."""

    __slots__ = ("root", "this", "vars")

    def __init__(self, root: list, vars: dict) -> None:
        self.root = root
        self.this: list | None = None
        self.vars = vars


class _Ctx:
    """Compile-time state: the model, and the type ``$this`` may have at this point."""

    def __init__(self, model: dict, root_ty: frozenset, resource_ty: frozenset) -> None:
        self.model = model
        self.root = root_ty
        self.resource = resource_ty
        self.this = root_ty


class _R:
    """A compiled subexpression: its function, its type and, for a member access on a
    choice element, what ``ofType`` needs to filter by the type found."""

    __slots__ = ("fn", "ty", "choice", "const")

    def __init__(self, fn: Callable, ty: frozenset, choice: tuple | None = None,
                 const: list | None = None) -> None:
        self.fn = fn
        self.ty = ty
        self.choice = choice
        self.const = const  # the value, when it is a constant


def _const(values: list, ty: frozenset = PRIM) -> _R:
    def const(data, env):
        return values
    return _R(const, ty, const=values)


# -- the compiler --------------------------------------------------------------------

def _compile(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    kind = node["type"]
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise Unsupported(kind)
    return handler(node, c, in_ty)


def _child(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    return _compile(node["children"][0], c, in_ty)


def _literal(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    term = node["children"][0]
    kind = term["type"]
    if kind == "StringLiteral":
        return _const(string_literal(None, None, term))
    if kind == "NumberLiteral":
        return _const(number_literal(None, None, term))
    if kind == "BooleanLiteral":
        return _const([term["text"] == "true"])
    if kind == "NullLiteral":
        return _const([], EMPTY)
    raise Unsupported(kind)


def _identifier(node: dict) -> str:
    return re.sub(r"(^\"|\"$)", "", node["text"])


def _external(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    name = _identifier(node["children"][0]["children"][0]).replace("`", "")
    if name == "context":
        ty = c.root
    elif name == "resource":
        ty = c.resource
    elif name == "ucum":
        ty = PRIM
    else:
        raise Unsupported("%" + name)
    if not ty:
        raise Unsupported("%" + name + " not given")

    def external(data, env):
        value = env.vars[name]
        return [] if value is None else value if type(value) is list else [value]
    return _R(external, ty)


def _this(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    def this(data, env):
        if env.this is None:
            raise _Fallback("$this before any")
        return env.this
    return _R(this, c.this)


def _polarity(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    operand = node["children"][0]
    if operand["type"] != "TermExpression" or operand["children"][0]["type"] != "LiteralTerm" \
            or operand["children"][0]["children"][0]["type"] != "NumberLiteral":
        raise Unsupported("unary sign on a non-literal")
    value = number_literal(None, None, operand["children"][0]["children"][0])
    return _const([-value[0]] if node["terminalNodeText"][0] == "-" else value)


def _indexer(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    coll = _compile(node["children"][0], c, in_ty)
    index = _compile(node["children"][1], c, in_ty)
    if index.ty != PRIM:
        raise Unsupported("computed index")
    values = index.fn([], None)
    if len(values) != 1 or type(values[0]) is not int:
        raise Unsupported("non-integer index")
    i = values[0]
    coll_fn = coll.fn

    def indexer(data, env):
        items = coll_fn(data, env)
        return [items[i]] if 0 <= i < len(items) else []
    return _R(indexer, coll.ty)


def _invocation(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    left, right = node["children"]
    first = _compile(left, c, in_ty)
    second = _function(right, c, first.ty, first) if right["type"] == "FunctionInvocation" \
        else _compile(right, c, first.ty)
    f, g = first.fn, second.fn
    if second.choice == ("fused",):  # ofType on a choice member: applied to its parent
        return _R(g, second.ty)
    choice = second.choice
    if choice is not None and choice[2] is None and right["type"] == "MemberInvocation":
        choice = (choice[0], choice[1], f)

    def invocation(data, env):
        return g(f(data, env), env)
    return _R(invocation, second.ty, choice)


# member access -----------------------------------------------------------------------

def _member(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    key = _identifier(node["children"][0]).replace("`", "")
    nodes, raws = _nodes(in_ty), _raws(in_ty)
    if not in_ty:
        return _const([], EMPTY)
    if is_capitalized(key) and raws:
        if nodes or None in raws:
            raise Unsupported("type prefix on a mixed collection")

        def of_resource_type(data, env):
            return [x for x in data if x["resourceType"] == key]
        return _R(of_resource_type, frozenset({("n", key)}))
    if UNKNOWN in nodes:
        raise Unsupported("member of a value of unknown type")
    model = c.model
    behaviours, paths, choice = set(), set(), None
    for parent in nodes | raws:
        child = f"{parent}.{key}" if parent else f"_.{key}"
        child = model["pathsDefinedElsewhere"].get(child, child)
        types = model["choiceTypePaths"].get(child)
        if types:
            behaviours.add(tuple(types))
            found = [model["path2Type"].get(child + t, child + t) for t in types]
            paths.update(found)
            choice = (key, tuple(zip(types, found, strict=True)), None)
        else:
            behaviours.add(None)
            if key == "extension":
                child = "Extension"
            paths.add(model["path2Type"].get(child, child))
    if len(behaviours) != 1:
        raise Unsupported("member with a type-dependent meaning")
    ty = frozenset(("n", p) for p in paths)
    types = behaviours.pop()
    if types is None:
        return _R(_plain_member(key), ty)
    fields = [(key + t, "_" + key + t, True) for t in types]
    return _R(_choice_member(key, fields), ty, choice)


def _add(out: list, value: Any) -> None:
    if value is not None:
        if type(value) is list:
            out.extend(value)
        else:
            out.append(value)


def _plain_member(key: str) -> Callable:
    underscored = "_" + key

    def member(data, env):
        out: list = []
        for item in data:
            if type(item) is dict:
                value = item.get(key)
                if value is not None:
                    if type(value) is list:
                        out.extend(value)
                    else:
                        out.append(value)
                value = item.get(underscored)
                if value is not None:
                    if type(value) is list:
                        out.extend(value)
                    else:
                        out.append(value)
            elif key == "length" or isinstance(item, dict):
                raise _Fallback("member of an unusual value")
        return out
    return member


def _choice_member(key: str, fields: list) -> Callable:
    def member(data, env):
        out: list = []
        for item in data:
            if type(item) is dict:
                for name, underscored, keep in fields:
                    value = item.get(name)
                    extra = item.get(underscored)
                    if value is not None or extra is not None:
                        if keep:
                            _add(out, value)
                            _add(out, extra)
                        break
            elif key == "length" or isinstance(item, dict):
                raise _Fallback("member of an unusual value")
        return out
    return member


# operators ---------------------------------------------------------------------------

def _operands(node: dict, c: _Ctx, in_ty: frozenset) -> tuple[_R, _R]:
    """Both operands, each evaluated by fhirpathpy after setting ``$this`` to the data."""
    c.this = in_ty
    left = _compile(node["children"][0], c, in_ty)
    c.this = in_ty
    right = _compile(node["children"][1], c, in_ty)
    return left, right


def _binary(node: dict, c: _Ctx, in_ty: frozenset, combine: Callable,
            ty: frozenset = PRIM) -> _R:
    left, right = _operands(node, c, in_ty)
    f, g = left.fn, right.fn

    def binary(data, env):
        env.this = data
        a = f(data, env)
        env.this = data
        return combine(a, g(data, env))
    return _R(binary, ty)


def _quantity_free(*results: _R) -> None:
    for r in results:
        nodes = _nodes(r.ty)
        if "Quantity" in nodes:
            raise Unsupported("comparison of Quantity values")


def _equality(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    op = node["terminalNodeText"][0]
    if op not in ("=", "!="):
        raise Unsupported(op)
    left, right = _operands(node, c, in_ty)
    _quantity_free(left, right)
    f, g = left.fn, right.fn
    negate = op == "!="

    def equality(data, env):
        env.this = data
        a = f(data, env)
        env.this = data
        b = g(data, env)
        if not a or not b:
            return []
        return [(len(a) == len(b) and a[0] == b[0]) is not negate]
    return _R(equality, PRIM)


def _rde(items: list, node_items: bool) -> list:
    """fhirpathpy's ``remove_duplicate_extension``: a value and its ``_x`` sibling."""
    if len(items) == 2 and node_items:
        try:
            sibling = "extension" in items[1]
        except TypeError:
            raise _Fallback("odd sibling") from None
        if sibling:
            return items[:1]
    return items


def _pure(ty: frozenset) -> bool:
    """Whether the items are ResourceNodes in fhirpathpy (raises when it depends)."""
    nodes, raws = _nodes(ty), _raws(ty)
    if nodes and raws:
        raise Unsupported("collection of nodes and plain values")
    return bool(nodes)


def _number(x: Any) -> bool:
    return isinstance(x, int | Decimal) and not isinstance(x, bool)


_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _singleton(items: list, node_items: bool) -> Any:
    items = _rde(items, node_items)
    if len(items) > 1:
        raise _Fallback("not a singleton")
    x = items[0]
    return Decimal(str(x)) if type(x) is float else x


def _inequality(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    compare = _COMPARE[node["terminalNodeText"][0]]
    left, right = _operands(node, c, in_ty)
    left_nodes, right_nodes = _pure(left.ty), _pure(right.ty)
    f, g = left.fn, right.fn

    def inequality(data, env):
        env.this = data
        a = f(data, env)
        env.this = data
        b = g(data, env)
        if not a or not b:
            return []
        x, y = _singleton(a, left_nodes), _singleton(b, right_nodes)
        tx = type(x)
        if (tx is type(y) and tx in (str, bool, int, Decimal)) or (_number(x) and _number(y)):
            return [compare(x, y)]
        raise _Fallback("incomparable")
    return _R(inequality, PRIM)


def _boolean(items: list) -> Any:
    if not items:
        return []
    if len(items) > 1:
        raise _Fallback("not a singleton boolean")
    x = items[0]
    if x is True or x is False:
        return x
    raise _Fallback("not a boolean")


def _logic(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    op = {"and": logic.and_op, "or": logic.or_op, "xor": logic.xor_op,
          "implies": logic.implies_op}[node["terminalNodeText"][0]]

    def combine(a, b):
        result = op(None, _boolean(a), _boolean(b))
        return result if type(result) is list else [result]
    return _binary(node, c, in_ty, combine)


def _arithmetic(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    op = node["terminalNodeText"][0]
    if op == "&":
        def amp(a, b):
            x = check_string_param(_one(a)) if a else ""
            y = check_string_param(_one(b)) if b else ""
            return [x + y]
        return _binary(node, c, in_ty, amp)
    if op in ("+", "-"):
        left, right = _operands(node, c, in_ty)
        for r in (left, right):
            if _nodes(r.ty) & (_DATE_PATHS | {UNKNOWN}):
                raise Unsupported("date arithmetic")
        left_nodes, right_nodes = _pure(left.ty), _pure(right.ty)
        f, g = left.fn, right.fn
        plus = op == "+"

        def additive(data, env):
            env.this = data
            a = f(data, env)
            env.this = data
            b = g(data, env)
            if not a or not b:
                return []
            a, b = _rde(a, left_nodes), _rde(b, right_nodes)
            if len(a) != 1 or len(b) != 1:
                raise _Fallback("arithmetic on a collection")
            x, y = a[0], b[0]
            if type(x) is dict or type(y) is dict:
                raise _Fallback("arithmetic on a complex value")
            x = Decimal(str(x)) if type(x) is float else x
            y = Decimal(str(y)) if type(y) is float else y
            if _number(x) and _number(y):
                return [x + y if plus else x - y]
            if plus and type(x) is str and type(y) is str:
                return [x + y]
            raise _Fallback("arithmetic on other kinds")
        return _R(additive, PRIM)
    operation = {"*": lambda x, y: x * y,
                 "/": lambda x, y: [] if y == 0 else x / y,
                 "div": lambda x, y: [] if y == 0 else int(x / y),
                 "mod": lambda x, y: [] if y == 0 else x % y}.get(op)
    if operation is None:
        raise Unsupported(op)

    def multiplicative(a, b):
        if not a or not b:
            return []
        x, y = _number_param(a), _number_param(b)
        result = operation(x, y)
        return result if type(result) is list else [result]
    return _binary(node, c, in_ty, multiplicative)


def _one(items: list) -> Any:
    if len(items) > 1:
        raise _Fallback("not a singleton")
    x = items[0]
    return Decimal(str(x)) if type(x) is float else x


def _number_param(items: list) -> Any:
    x = _one(items)
    if isinstance(x, int | Decimal):  # bool included, as numbers.Number
        return x
    raise _Fallback("not a number")


def _membership(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    op = {"in": fp_collections.inn, "contains": fp_collections.contains}.get(
        node["terminalNodeText"][0])
    if op is None:
        raise Unsupported(node["terminalNodeText"][0])

    def membership(a, b):
        result = op(None, a, b)
        return result if type(result) is list else [result]
    return _binary(node, c, in_ty, membership)


def _uniq(items: list) -> list:
    """fhirpathpy's ``uniq`` (by JSON text), quicker for strings alone."""
    for item in items:
        if type(item) is not str:
            return uniq(items)
    return list(dict.fromkeys(items))


def _union(node: dict, c: _Ctx, in_ty: frozenset) -> _R:
    left, right = _operands(node, c, in_ty)
    ty = left.ty | right.ty
    nodes = _pure(ty)

    f, g = left.fn, right.fn
    if left.const is not None and right.const is not None:  # ('a' | 'b')
        values = _uniq(left.const + right.const)

        def constant(data, env):
            env.this = data
            return values
        return _R(constant, ty, const=values)

    def union(data, env):
        env.this = data
        a = f(data, env)
        env.this = data
        return _uniq(a + g(data, env))
    return _R(union, frozenset({("n", UNKNOWN)}) if nodes else ty)


# functions ---------------------------------------------------------------------------

def _function(node: dict, c: _Ctx, in_ty: frozenset, receiver: _R | None = None) -> _R:
    functn = node["children"][0]
    name = _identifier(functn["children"][0])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    spec = _FUNCTIONS.get(name)
    if spec is None:
        raise Unsupported(name + "()")
    handler, arities = spec
    if len(params) not in arities:
        raise Unsupported(f"{name}() with {len(params)} parameters")
    return handler(c, in_ty, params, receiver)


def _simple(fn: Callable, ty: frozenset | None = PRIM) -> tuple:
    """A function without parameters: ``fn(items)`` returns fhirpathpy's raw result."""
    def handler(c, in_ty, params, receiver):
        def call(data, env):
            result = fn(data)
            return result if type(result) is list else [] if result is None else [result]
        return _R(call, in_ty if ty is None else ty)
    return handler, (0,)


def _not(items: list) -> Any:
    if len(items) != 1:
        return []
    x = items[0]
    return (not x) if isinstance(x, bool) else False


def _first(items: list) -> list:
    return items[:1]


def _distinct(c, in_ty, params, receiver):
    nodes = _pure(in_ty)

    def distinct(data, env):
        return _uniq(data)
    return _R(distinct, frozenset({("n", UNKNOWN)}) if nodes else in_ty)


def _is_distinct(c, in_ty, params, receiver):
    _pure(in_ty)

    def is_distinct(data, env):
        return [len(data) == len(_uniq(data))]
    return _R(is_distinct, PRIM)


def _lambda(c: _Ctx, in_ty: frozenset, param: dict) -> tuple[Callable, frozenset]:
    """A lambda parameter (``where(...)``): evaluated per item with ``$this`` the item;
    ``c.this`` afterwards covers both an empty input (unchanged) and the last item's."""
    before = c.this
    c.this = in_ty
    body = _compile(param, c, in_ty)
    c.this = before | c.this
    return body.fn, body.ty


def _truth(ty: frozenset) -> Callable:
    """How fhirpathpy's ``where`` reads a criterion's first item: a ResourceNode is
    always true, a plain value by Python truthiness."""
    if _pure(ty):
        return lambda result: bool(result)
    return lambda result: bool(result) and bool(result[0])


def _where(c, in_ty, params, receiver):
    body, body_ty = _lambda(c, in_ty, params[0])
    truth = _truth(body_ty)

    def where(data, env):
        out = []
        for item in data:
            env.this = [item]
            if truth(body([item], env)):
                out.append(item)
        return out
    return _R(where, in_ty)


def _exists(c, in_ty, params, receiver):
    if not params:
        return _R(lambda data, env: [len(data) > 0], PRIM)
    body, body_ty = _lambda(c, in_ty, params[0])
    truth = _truth(body_ty)

    def exists(data, env):
        found = False
        for item in data:
            env.this = [item]
            if truth(body([item], env)):
                found = True
        return [found]
    return _R(exists, PRIM)


def _select(c, in_ty, params, receiver):
    body, body_ty = _lambda(c, in_ty, params[0])

    def select(data, env):
        out: list = []
        for item in data:
            env.this = [item]
            out.extend(body([item], env))
        return out
    return _R(select, body_ty)


def _all(c, in_ty, params, receiver):
    body, _ = _lambda(c, in_ty, params[0])

    def all_(data, env):
        for item in data:
            env.this = [item]
            result = body([item], env)
            if not (len(result) == 1 and result[0] == True):  # noqa: E712 - fhirpathpy's
                return [False]
        return [True]
    return _R(all_, PRIM)


def _iif(c, in_ty, params, receiver):
    before = c.this
    c.this = in_ty
    cond = _compile(params[0], c, in_ty)
    after = c.this
    branches, ty = [], EMPTY
    for param in params[1:]:
        c.this = in_ty
        branch = _compile(param, c, in_ty)
        branches.append(branch.fn)
        ty |= branch.ty
        after |= c.this
    c.this = before | after
    cond_fn, ok = cond.fn, branches[0]
    fail = branches[1] if len(branches) > 1 else None

    def iif(data, env):
        env.this = data
        result = cond_fn(data, env)
        if len(result) == 1 and result[0] == True:  # noqa: E712 - fhirpathpy's is_true
            env.this = data
            return ok(data, env)
        if fail is not None:
            env.this = data
            return fail(data, env)
        return []
    return _R(iif, ty)


def _param(c: _Ctx, param: dict, check: Callable | None) -> Callable:
    """A plain parameter (``substring(1)``): fhirpathpy evaluates it on ``$this`` (the
    root if unset), after setting ``$this`` to that, and checks a singleton's kind."""
    r = _compile(param, c, c.this)
    fn = r.fn
    if r.const is not None and len(r.const) <= 1:
        constant = (check(r.const[0]) if check else r.const) if r.const else []

        def constant_value(env):
            if env.this is None:
                env.this = env.root
            return constant
        return constant_value

    def value(env):
        this = env.this if env.this is not None else env.root
        env.this = this
        items = fn(this, env)
        if not items:
            return []
        if len(items) > 1:
            raise _Fallback("parameter not a singleton")
        return check(items[0]) if check else items
    return value


def _string_function(fn: Callable, arities: tuple, nullable: bool = True,
                     kind: Callable = check_string_param) -> tuple:
    """A function on a string with plain parameters, fhirpathpy's own ``fn``."""
    def handler(c, in_ty, params, receiver):
        before = c.this
        values = [_param(c, p, kind) for p in params]
        c.this = before | c.this

        def call(data, env):
            if nullable and not data:
                return []
            result = fn(None, data, *[v(env) for v in values])
            return result if type(result) is list else [] if result is None else [result]
        return _R(call, PRIM)
    return handler, arities


def _integer(x: Any) -> Any:
    return check_integer_param(Decimal(str(x)) if type(x) is float else x)


def _string(x: Any) -> Any:
    return check_string_param(x)


def _extension(c, in_ty, params, receiver):
    before = c.this
    url_of = _param(c, params[0], _string)
    c.this = before | c.this

    def extension(data, env):
        url = url_of(env)
        out = []
        for item in data:
            if type(item) is dict:
                found = [e for e in item.get("extension", []) if e["url"] == url]
                if found:
                    out.append(found[0])
            elif isinstance(item, dict):
                raise _Fallback("unusual value")
        return out
    return _R(extension, frozenset({("n", "Extension")}))


def _type_of_path(path: str | None, model: dict | None) -> TypeInfo:
    if path is None or path == UNKNOWN:
        raise Unsupported("type of a value without a path")
    if path.startswith("System."):
        return TypeInfo(namespace=TypeInfo.System, name=path[7:])
    if "." in path:
        raise Unsupported("type of a backbone element")
    return TypeInfo(namespace=TypeInfo.FHIR, name=path)


def _is_type(path: str | None, target: TypeInfo, model: dict) -> bool:
    """``ofType``'s verdict for items with this path, the same whether or not
    fhirpathpy's global ``TypeInfo.model`` is set (else Unsupported)."""
    info = _type_of_path(path, model)
    saved = TypeInfo.model
    try:
        TypeInfo.model = None
        plain = info.is_(target)
        TypeInfo.model = model
        modelled = info.is_(target)
    finally:
        TypeInfo.model = saved
    if plain != modelled:
        raise Unsupported("ofType depends on fhirpathpy's global state")
    return plain


def _of_type(c, in_ty, params, receiver):
    param = params[0]
    text = param.get("text")
    if param["type"] != "TermExpression" or not text:
        raise Unsupported("ofType of an expression")
    names = text.replace("`", "").split(".")
    if len(names) > 2:
        raise Unsupported("ofType of a long name")
    target = TypeInfo(name=names[-1], namespace=names[0] if len(names) == 2 else None)
    nodes, raws = _nodes(in_ty), _raws(in_ty)
    if raws:
        raise Unsupported("ofType of plain values")
    if receiver is not None and receiver.choice is not None and len(receiver.ty) > 1:
        # a choice element: keep what the type found in each item is
        key, pairs, parent = receiver.choice
        verdicts = {path: _is_type(path, target, c.model) for _, path in pairs}
        fields = [(key + t, "_" + key + t, verdicts[path]) for t, path in pairs]
        fused = _choice_member(key, fields)
        kept = frozenset(("n", p) for p, keep in verdicts.items() if keep)
        if parent is None:
            return _R(fused, kept, ("fused",))
        return _R(lambda data, env: fused(parent(data, env), env), kept, ("fused",))
    verdicts = {_is_type(p, target, c.model) for p in nodes}
    if verdicts == {True}:
        return _R(lambda data, env: data, in_ty)
    if verdicts == {False} or not verdicts:
        return _const([], EMPTY)
    raise Unsupported("ofType on mixed types")


def _intersect(c, in_ty, params, receiver):
    other = _at_root(c, params[0])

    def intersect(data, env):
        return intersect_fn(None, data, other(env))
    return _R(intersect, in_ty)


def _combine_like(union: bool) -> Callable:
    def handler(c, in_ty, params, receiver):
        other_r = _at_root_r(c, params[0])
        other = other_r[0]
        ty = in_ty | other_r[1]
        nodes = _pure(ty) if union else False

        def combine(data, env):
            items = data + other(env)
            return _uniq(items) if union else items
        return _R(combine, frozenset({("n", UNKNOWN)}) if nodes else ty)
    return handler


def _at_root_r(c: _Ctx, param: dict) -> tuple[Callable, frozenset]:
    r = _compile(param, c, c.this)
    fn = r.fn

    def value(env):
        if env.this is None:
            env.this = env.root
        return fn(env.this, env)
    return value, r.ty


def _at_root(c: _Ctx, param: dict) -> Callable:
    return _at_root_r(c, param)[0]


_today_cache: list = [None, None]


def _today(items: list) -> str:
    day = datetime.now().date()
    if _today_cache[0] != day:
        _today_cache[:] = [day, str(FP_DateTime(day.isoformat()))]
    return _today_cache[1]


def _nullable_simple(fn: Callable) -> tuple:
    def call(items):
        return [] if not items else fn(None, items)
    return _simple(call)


_FUNCTIONS: dict[str, tuple] = {
    "empty": _simple(lambda items: not items),
    "exists": (_exists, (0, 1)),
    "all": (_all, (1,)),
    "count": _simple(len),
    "not": _simple(_not),
    "isDistinct": (_is_distinct, (0,)),
    "distinct": (_distinct, (0,)),
    "where": (_where, (1,)),
    "select": (_select, (1,)),
    "first": _simple(_first, None),
    "last": _simple(lambda items: items[-1:], None),
    "tail": _simple(lambda items: items[1:], None),
    "iif": (_iif, (2, 3)),
    "toInteger": _simple(lambda items: misc.to_integer(None, items)),
    "toString": _simple(lambda items: misc.to_string(None, items)),
    "today": _simple(_today),
    "length": _nullable_simple(strings.length),
    "upper": _nullable_simple(strings.upper),
    "lower": _nullable_simple(strings.lower),
    "trim": _nullable_simple(strings.trim),
    "matches": _string_function(strings.matches, (1,)),
    "startsWith": _string_function(strings.starts_with, (1,)),
    "endsWith": _string_function(strings.ends_with, (1,)),
    "contains": _string_function(strings.contains_fn, (1,)),
    "indexOf": _string_function(strings.index_of, (1,)),
    "substring": _string_function(strings.substring, (1, 2), kind=_integer),
    "extension": (_extension, (1,)),
    "ofType": (_of_type, (1,)),
    "intersect": (_intersect, (1,)),
    "union": (_combine_like(True), (1,)),
    "combine": (_combine_like(False), (1,)),
}


_HANDLERS: dict[str, Callable] = {
    "TermExpression": _child,
    "InvocationTerm": _child,
    "ParenthesizedTerm": _child,
    "LiteralTerm": _literal,
    "ExternalConstantTerm": _external,
    "ThisInvocation": _this,
    "MemberInvocation": _member,
    "FunctionInvocation": _function,
    "InvocationExpression": _invocation,
    "PolarityExpression": _polarity,
    "IndexerExpression": _indexer,
    "EqualityExpression": _equality,
    "InequalityExpression": _inequality,
    "AndExpression": _logic,
    "OrExpression": _logic,
    "XorExpression": _logic,
    "ImpliesExpression": _logic,
    "AdditiveExpression": _arithmetic,
    "MultiplicativeExpression": _arithmetic,
    "MembershipExpression": _membership,
    "UnionExpression": _union,
}


# -- evaluation ----------------------------------------------------------------------

def _visit(value: Any) -> Any:
    """fhirpathpy's output conversion: floats become Decimals, and an object holding only
    ``extension`` (a primitive's ``_x`` sibling) is left out of lists."""
    if type(value) is float:
        return Decimal(str(value))
    if isinstance(value, list):
        out = []
        for item in value:
            item = _visit(item)
            if isinstance(item, dict) and list(item) == ["extension"]:
                continue
            out.append(item)
        return out
    if isinstance(value, dict):
        return {key: _visit(item) for key, item in value.items()}
    return value


_SIMPLE = (bool, int, str, Decimal)


def _output(result: list) -> list:
    for item in result:
        if type(item) not in _SIMPLE:
            return _visit(result)
    return list(result)


def compile_fast(expression: str, resource_type: str, resource_type_of_resource: str | None,
                 model: dict | None = None) -> Callable:
    """The fast form of ``expression`` for a root of ``resource_type`` and a %resource of
    ``resource_type_of_resource`` (None: not given), as ``fn(root_list, env)``; raises
    ``Unsupported``."""
    from fhirpathpy.parser import parse

    return _fast(parse(expression), resource_type, resource_type_of_resource,
                 model or models["r4"])


def _fast(ast: dict, root_type: str, resource_type: str | None, model: dict) -> Callable:
    root_ty = frozenset({("r", root_type)})
    resource_ty = frozenset({("r", resource_type)}) if resource_type else EMPTY
    c = _Ctx(model, root_ty, resource_ty)
    return _compile(ast["children"][0], c, root_ty).fn


class FastPath:
    """``compile``'s result: call as fhirpathpy's compiled functions are,
    ``fn(resource, {"resource": ...})``; ``slow`` is fhirpathpy's."""

    def __init__(self, expression: str, model: dict) -> None:
        self.expression = expression
        self.model = model
        self.slow = fhirpathpy.compile(expression, model)
        self._forms: dict[tuple, Callable | None] = {}

    def form(self, root_type: str, resource_type: str | None) -> Callable | None:
        """The fast form for this pair of resource types, None when unsupported."""
        key = (root_type, resource_type)
        try:
            return self._forms[key]
        except KeyError:
            pass
        try:
            fn = _fast(self.slow.parsedPath, root_type, resource_type, self.model)
        except Unsupported:
            fn = None
        except Exception:  # noqa: BLE001 - whatever the compiler trips on: fhirpathpy's
            fn = None
        self._forms[key] = fn
        return fn

    def fast_for(self, resource: Any, context: dict | None = None) -> Callable | None:
        """The fast form this call would use (None: fhirpathpy)."""
        key = _key(resource, context)
        return None if key is None else self.form(*key)

    def fast(self, resource: Any, context: dict | None = None) -> list:
        """The fast path alone (tests, benchmarks): raises ``Unsupported`` when there is
        none, and whatever the fast path raises instead of falling back."""
        key = _key(resource, context)
        fn = None if key is None else self.form(*key)
        if fn is None:
            raise Unsupported(self.expression)
        root = [resource]
        vars = {"context": resource, "ucum": "http://unitsofmeasure.org"}
        if context:
            vars.update(context)
        return _output(fn(root, _Env(root, vars)))

    def __call__(self, resource: Any, context: dict | None = None) -> list:
        key = _key(resource, context)
        fn = None if key is None else self.form(*key)
        if fn is not None:
            root = [resource]
            vars = {"context": resource, "ucum": "http://unitsofmeasure.org"}
            if context:
                vars.update(context)
            try:
                return _output(fn(root, _Env(root, vars)))
            except Exception:  # noqa: BLE001, S110 - fhirpathpy decides (result or error)
                pass
        return self.slow(resource, context)


def _key(resource: Any, context: dict | None) -> tuple | None:
    if type(resource) is not dict:
        return None
    root_type = resource.get("resourceType")
    if type(root_type) is not str or not root_type:
        return None
    resource_type = None
    if context:
        if "context" in context or "ucum" in context:
            return None
        if "resource" in context:
            given = context["resource"]
            resource_type = given.get("resourceType") if type(given) is dict else None
            if type(resource_type) is not str or not resource_type:
                return None
    return root_type, resource_type


def compile(expression: str, model: dict | None = None) -> Compiled:  # noqa: A001
    """``expression`` compiled once, like ``fhirpathpy.compile(expression, model)`` (the
    R4 model by default) and giving the same results, but evaluated by Python closures
    when the expression is in the supported subset. Raises what fhirpathpy raises for
    an expression it cannot parse."""
    return FastPath(expression, model or models["r4"])
