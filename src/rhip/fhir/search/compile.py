"""Compile the FHIRPath of the R4 SearchParameter expressions into Python closures.

The R4 ``SearchParameter.expression`` values (http://hl7.org/fhir/R4/searchparameter.html)
use a small part of FHIRPath (http://hl7.org/fhirpath/N1/): dotted paths from a type name,
``|`` unions, ``as`` (operator, ``as()``, ``ofType()``), ``where(...)`` with
``=``/``!=``/``and`` and ``resolve() is T``, ``exists()``, indexers and ``%resource``; this
module compiles exactly that. Every step is typed at compile time from the R4 structure
table (``rhip.fhir.definitions.structure``): the choice element ``Observation.value`` becomes
the JSON keys ``valueQuantity``, ``valueString``, ... each with its FHIR type, and
``as Quantity`` keeps ``valueQuantity`` (``as`` accepts specialisations: Age is a Quantity,
canonical a uri). FHIRPath ``|`` removes duplicates; here the index rows are deduplicated.

Runtime values are lists of ``(fhir_type, json_value)`` items. Backbone elements are typed
by their path (``"Observation.component"``) so composite components compile against them.
``value.as(DateTime)`` (System type, R4 ``Observation-code-value-date``) means FHIR
``dateTime``. An expression outside the subset falls back to fhirpathpy (debug log).

``resolve() is T`` cannot resolve at write time; it means "the reference targets a T"
(``reference_type``): ``Type/id`` or an absolute URL ending in ``Type/id`` gives the
type, ``#id`` is looked up in ``contained``, else ``Reference.type`` is used. A reference
whose type cannot be known (``urn:uuid:``, ``urn:oid:``, identifier-only) is kept: the
row it produces only matches a search for that exact URN or identifier.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from rhip.fhir.definitions import structure

__all__ = ["CompileError", "Compiled", "Extractor", "compile_expression", "compile_typed", "parse"]
__all__ += ["reference_type", "resource_types", "root_name"]

log = logging.getLogger(__name__)

Item = tuple[str, Any]
Extractor = Callable[[dict[str, Any]], list[Item]]
_Eval = Callable[[list[Item], dict[str, Any]], list[Item]]
_Node = tuple[Any, ...]

# FHIRPath System types written where the FHIR type was meant (e.g. ``value.as(DateTime)``).
_SYSTEM_TYPES = {"DateTime": "dateTime", "String": "string", "Boolean": "boolean", "Date": "date",
                 "Decimal": "decimal", "Integer": "integer", "Time": "time"}  # fmt: skip
_REF = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


class CompileError(ValueError):
    """The expression is outside the compiled subset."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled expression: ``run(items, root)`` evaluates it on a context collection."""

    run: _Eval
    types: frozenset[str]
    fallback: bool = False

    def __call__(self, resource: dict[str, Any]) -> list[Item]:
        return self.run([(resource.get("resourceType", ""), resource)], resource)


# ---------------------------------------------------------------- model (R4 structure table)


@cache
def resource_types() -> frozenset[str]:
    """Concrete R4 resource type names."""
    types = structure()["types"]
    return frozenset(n for n, t in types.items() if t["kind"] == "resource" and not t["abstract"])


# Specialised primitives (R4 datatypes §2.24.0.1: "canonical ... uri", "code ... string", ...).
_PRIMITIVE_BASE = {"code": "string", "id": "string", "markdown": "string", "canonical": "uri", "url": "uri",
                   "oid": "uri", "uuid": "uri", "positiveInt": "integer", "unsignedInt": "integer"}  # fmt: skip


def _is_subtype(t: str, target: str) -> bool:
    types = structure()["types"]
    cur: str | None = t
    while cur is not None:
        if cur == target:
            return True
        info = types.get(cur)
        cur = info.get("base") if info else _PRIMITIVE_BASE.get(cur, "BackboneElement" if "." in cur else None)
    return target in ("Resource", "DomainResource") and t in resource_types()


@cache
def _children(t: str, name: str) -> tuple[tuple[str, str], ...]:
    """``(json_key, fhir_type)`` pairs reached by member ``name`` from type ``t``."""
    owner, _, prefix = t.partition(".")
    info = structure()["types"].get(owner)
    if info is None:
        return ()
    elements = info["elements"]
    rel = f"{prefix}.{name}" if prefix else name
    if rel in elements:
        codes, ref = elements[rel][2], elements[rel][5]
        if ref or not codes or codes[0] in ("BackboneElement", "Element"):
            return ((name, f"{owner}.{ref or rel}"),)
        return ((name, codes[0]),)
    if f"{rel}[x]" in elements:
        return tuple((name + c[0].upper() + c[1:], c) for c in elements[f"{rel}[x]"][2])
    return ()


def reference_type(ref: dict[str, Any], root: dict[str, Any] | None = None) -> str | None:
    """The resource type a Reference targets, or None when it cannot be known at write time."""
    s = ref.get("reference")
    if isinstance(s, str):
        if s.startswith("#") and root is not None:
            for c in root.get("contained") or ():
                if c.get("id") == s[1:]:
                    return str(c.get("resourceType"))
            return None
        m = _REF.search(s)
        if m and m.group(1) in resource_types():
            return m.group(1)
    t = ref.get("type")
    return t if isinstance(t, str) else None


# ---------------------------------------------------------------- parser (Pratt)

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<id>%?[A-Za-z_]\w*)|`(?P<bq>[^`]*)`|(?P<op>!=|<=|>=|[.()\[\]|=<>,&+\-*]))"
)
# Binding power of the binary operators (FHIRPath N1 §6.8 operator precedence).
_BINARY = {"is": 5, "as": 5, "|": 6, "=": 8, "!=": 8, "and": 10}


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while src[pos:].strip():
            m = _TOKEN.match(src, pos)
            if not m:
                raise CompileError(f"unexpected character at {pos}: {src!r}")
            kind = m.lastgroup or ""
            self.toks.append(("id" if kind == "bq" else kind, m.group(kind)))
            pos = m.end()
        self.toks.append(("eof", ""))
        self.i = 0

    def take(self, expect: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        self.i += 1
        if expect is not None and tok[1] != expect and tok[0] != expect:
            raise CompileError(f"expected {expect!r}, got {tok[1]!r}")
        return tok

    def expr(self, limit: int = 99) -> _Node:
        left = self.postfix(self.primary())
        while (prec := _BINARY.get(op := self.toks[self.i][1])) and prec < limit:
            self.i += 1
            right = self.type_name() if op in ("is", "as") else self.expr(prec)
            left = (op, left, right)
        return left

    def type_name(self) -> str:
        name = self.take("id")[1]
        if self.toks[self.i][1] == ".":  # FHIR.Quantity / System.String
            self.i += 1
            name = self.take("id")[1]
        return _SYSTEM_TYPES.get(name, name)

    def primary(self) -> _Node:
        kind, text = self.take()
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if kind == "str":
            return ("lit", "string", text[1:-1].replace("\\'", "'"))
        if kind == "num":
            return ("lit", "decimal", Decimal(text)) if "." in text else ("lit", "integer", int(text))
        if kind != "id":
            raise CompileError(f"unexpected token {text!r}")
        if text in ("true", "false"):
            return ("lit", "boolean", text == "true")
        if text.startswith("%"):
            return ("var", text[1:])
        return self.invocation(("this",), text, "ident")

    def invocation(self, base: _Node, name: str, kind: str = "member") -> _Node:
        if self.toks[self.i][1] != "(":
            return (kind, base, name)
        self.i += 1
        args: list[_Node] = []
        if name in ("as", "is", "ofType"):
            args.append(("type", self.type_name()))
        while self.toks[self.i][1] != ")":
            args.append(self.expr())
            if self.toks[self.i][1] == ",":
                self.i += 1
        self.take(")")
        return ("call", base, name, tuple(args))

    def postfix(self, node: _Node) -> _Node:
        while (text := self.toks[self.i][1]) in (".", "["):
            self.i += 1
            if text == ".":
                node = self.invocation(node, self.take("id")[1])
            else:
                num = self.take("num")[1]
                self.take("]")
                node = ("index", node, int(num))
        return node


def parse(expr: str) -> _Node:
    """Parse an expression into a tuple AST (raises CompileError outside the subset)."""
    parser = _Parser(expr)
    try:
        node = parser.expr()
        parser.take("eof")
    except IndexError as exc:
        raise CompileError(f"incomplete expression {expr!r}") from exc
    return node


def root_name(node: _Node) -> str | None:
    """The type name a path starts from (``Observation`` in ``(Observation.value as X)``)."""
    while node[0] not in ("ident", "this", "lit", "var"):
        node = node[1]
    return node[2] if node[0] == "ident" and node[2][:1].isupper() else None


# ---------------------------------------------------------------- compiler

_Typed = tuple[_Eval, Iterable[str]]


@cache
def _accepting(name: str) -> frozenset[str]:
    """Runtime type names that satisfy ``is name`` (the type and its specialisations)."""
    known = set(structure()["types"]) | resource_types()
    return frozenset(t for t in known if _is_subtype(t, name)) | {name}


def _truth(items: list[Item]) -> bool | None:
    """Singleton evaluation of a collection as a Boolean (FHIRPath N1 §4.5)."""
    if len(items) != 1:
        return None
    v = items[0][1]
    return v if isinstance(v, bool) else True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _member(base: _Eval, table: dict[str, tuple[tuple[str, str], ...]]) -> _Eval:
    def member(items: list[Item], root: dict[str, Any]) -> list[Item]:
        out: list[Item] = []
        for t, v in base(items, root):
            for key, ctype in table.get(t, ()):
                x = v.get(key)
                if type(x) is list:
                    out += [(ctype, y) for y in x if y is not None]
                elif x is not None:
                    out.append((ctype, x))
        return out

    return member


def _path(accept: frozenset[str] | None, keys: tuple[str, ...], last: tuple[tuple[str, str], ...]) -> _Eval:
    """A chain of single-typed steps as one loop over JSON keys (the common case)."""
    if not keys and len(last) == 1 and accept is not None:  # ``Observation.code``: the most common
        ((key, ctype),) = last

        def step(items: list[Item], root: dict[str, Any]) -> list[Item]:
            out: list[Item] = []
            for t, v in items:
                if t in accept:
                    x = v.get(key)
                    if type(x) is list:
                        out += [(ctype, y) for y in x if y is not None]
                    elif x is not None:
                        out.append((ctype, x))
            return out

        return step

    def path(items: list[Item], root: dict[str, Any]) -> list[Item]:
        cur = [v for t, v in items if accept is None or t in accept]
        for key in keys:
            nxt: list[Any] = []
            for v in cur:
                x = v.get(key)
                if type(x) is list:
                    nxt += x
                elif x is not None:
                    nxt.append(x)
            if not nxt:
                return []
            cur = nxt
        out: list[Item] = []
        for v in cur:
            for key, ctype in last:
                x = v.get(key)
                if type(x) is list:
                    out += [(ctype, y) for y in x if y is not None]
                elif x is not None:
                    out.append((ctype, x))
        return out

    return path


def _boolean(fn: Callable[[list[Item], dict[str, Any]], bool | None]) -> _Typed:
    def boolean(items: list[Item], root: dict[str, Any]) -> list[Item]:
        r = fn(items, root)
        return [] if r is None else [("boolean", r)]

    return boolean, ("boolean",)


def _and(x: bool | None, y: bool | None) -> bool | None:
    return False if x is False or y is False else (True if x and y else None)


_KINDS = {"|": "union", "=": "eq", "!=": "eq"}


class _Compiler:
    """AST → ``(closure, static result types)``, given the context's static types."""

    def __init__(self, root_types: frozenset[str]) -> None:
        self.root_types = root_types

    def run(self, node: _Node, ctx: frozenset[str]) -> tuple[_Eval, frozenset[str]]:
        kind = str(_KINDS.get(node[0], node[0]))
        handler = getattr(self, "c_" + kind, None)
        if handler is None:
            raise CompileError(f"unsupported operator {node[0]!r}")
        fn, types = handler(node, ctx)
        return fn, frozenset(types)

    def c_this(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        return (lambda items, root: items), ctx

    def c_var(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        if node[1] not in ("resource", "rootResource", "context"):
            raise CompileError(f"unknown variable %{node[1]}")
        static = next(iter(self.root_types)) if len(self.root_types) == 1 else None
        return (lambda items, root: [(static or root["resourceType"], root)]), self.root_types

    def c_lit(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        const: list[Item] = [(node[1], node[2])]
        return (lambda items, root: const), (node[1],)

    def _is_type(self, node: _Node, ctx: frozenset[str]) -> bool:
        """A leading identifier that names a type (``Patient`` in ``Patient.name``)."""
        name = node[2]
        return node[0] == "ident" and name[:1].isupper() and not any(_children(t, name) for t in ctx)

    def c_ident(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        if not self._is_type(node, ctx):
            return self.c_member(("member", ("this",), node[2]), ctx)
        name = node[2]
        if name not in structure()["types"] and name not in resource_types():
            raise CompileError(f"unknown type {name}")
        ok = _accepting(name)
        return (lambda items, root: [(name, v) for t, v in items if t in ok]), (name,)

    def _chain(self, node: _Node, ctx: frozenset[str], only: str | None) -> _Typed | None:
        names: list[str] = []
        while node[0] in ("member", "ident") and not self._is_type(node, ctx):
            names.append(node[2])
            node = node[1]
        accept: frozenset[str] | None = None
        if node[0] == "ident" and node[1] == ("this",):
            accept, (typ,) = _accepting(node[2]), (node[2],)
        elif node == ("this",) and len(ctx) == 1:
            (typ,) = ctx
        else:
            return None
        keys = []
        for name in reversed(names[1:]):
            kids = _children(typ, name)
            if len(kids) != 1:
                return None
            keys.append(kids[0][0])
            typ = kids[0][1]
        last = tuple(k for k in _children(typ, names[0]) if only is None or _is_subtype(k[1], only))
        if not last:
            return None
        return _path(accept, tuple(keys), last), {c for _, c in last}

    def c_member(self, node: _Node, ctx: frozenset[str], only: str | None = None) -> _Typed:
        chain = self._chain(node, ctx, only)
        if chain is not None:
            return chain
        base, btypes = self.run(node[1], ctx)
        table = {}
        for t in btypes:
            kids = _children(t, node[2])
            kids = tuple(k for k in kids if only is None or _is_subtype(k[1], only))
            if kids:
                table[t] = kids
        if not table and only is None:
            raise CompileError(f"no element {node[2]!r} on {sorted(btypes)}")
        return _member(base, table), {c for kids in table.values() for _, c in kids}

    def c_as(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        base_node, tname = node[1], node[2]
        if base_node[0] in ("member", "ident") and not self._is_type(base_node, ctx):
            return self.c_member(("member", *base_node[1:]), ctx, only=tname)
        base, btypes = self.run(base_node, ctx)
        ok = _accepting(tname)
        return (lambda items, root: [i for i in base(items, root) if i[0] in ok]), (btypes & ok)

    def c_index(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        base, btypes = self.run(node[1], ctx)
        n = node[2]
        return (lambda items, root: base(items, root)[n : n + 1]), btypes

    def c_union(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        # FHIRPath ``|`` also removes duplicates; index rows are deduplicated instead.
        (a, ta), (b, tb) = self.run(node[1], ctx), self.run(node[2], ctx)
        return (lambda items, root: a(items, root) + b(items, root)), ta | tb

    def c_eq(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        (a, _), (b, _) = self.run(node[1], ctx), self.run(node[2], ctx)
        negate = node[0] == "!="

        def eq(items: list[Item], root: dict[str, Any]) -> bool | None:
            la, lb = a(items, root), b(items, root)
            if not la or not lb:
                return None
            same = len(la) == len(lb) and all(_same(x[1], y[1]) for x, y in zip(la, lb, strict=True))
            return same is not negate

        return _boolean(eq)

    def c_and(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        (a, _), (b, _) = self.run(node[1], ctx), self.run(node[2], ctx)
        return _boolean(lambda items, root: _and(_truth(a(items, root)), _truth(b(items, root))))

    def c_call(self, node: _Node, ctx: frozenset[str]) -> _Typed:
        _, base_node, name, args = node
        if name in ("as", "ofType"):
            return self.c_as(("as", base_node, args[0][1]), ctx)
        base, btypes = self.run(base_node, ctx)
        if name == "where" and len(args) == 1:
            return self._where(base, btypes, args[0]), btypes
        if name == "exists" and len(args) <= 1:
            test = self._where(base, btypes, args[0]) if args else base
            return _boolean(lambda items, root: bool(test(items, root)))
        raise CompileError(f"unsupported function {name}()")

    def _where(self, base: _Eval, btypes: frozenset[str], pred: _Node) -> _Eval:
        if pred[0] == "is" and pred[1] == ("call", ("this",), "resolve", ()):
            target = pred[2]

            def refers(items: list[Item], root: dict[str, Any]) -> list[Item]:
                return [
                    i
                    for i in base(items, root)
                    if isinstance(i[1], dict) and reference_type(i[1], root) in (None, target)
                ]

            return refers
        test, _ = self.run(pred, btypes)
        return lambda items, root: [i for i in base(items, root) if _truth(test([i], root)) is True]


def _fallback(expr: str) -> Compiled:
    import fhirpathpy
    from fhirpathpy.models import models

    fn = fhirpathpy.compile(expr, models["r4"])
    prims = {bool: "boolean", int: "integer", str: "string", float: "decimal"}

    def infer(v: Any) -> str:
        if isinstance(v, dict):
            return str(v.get("resourceType", "Element"))
        return prims.get(type(v), "decimal")

    def run(items: list[Item], root: dict[str, Any]) -> list[Item]:
        return [(infer(v), v) for _, i in items for v in fn(i, {"resource": root})]

    return Compiled(run, frozenset(), fallback=True)


@cache
def compile_typed(expr: str, context: str | frozenset[str] | None = None) -> Compiled:
    """Compile ``expr``, relative to ``context`` (type names or backbone paths) if given.

    Without a context the expression must start from a type name (``Patient.name``).
    ``%resource`` is the ``root`` passed to ``run``. Falls back to fhirpathpy outside the
    subset (logged at debug level; ``Compiled.fallback`` tells).
    """
    if isinstance(context, str):
        context = frozenset({context})
    ctx = context or frozenset({"Resource"})
    roots = frozenset(t.partition(".")[0] for t in ctx)
    try:
        fn, types = _Compiler(roots).run(parse(expr), ctx)
    except CompileError as exc:
        log.debug("FHIRPath fallback for %r (context %s): %s", expr, context, exc)
        return _fallback(expr)
    return Compiled(fn, types)


def compile_expression(expr: str) -> Extractor:
    """Compile an expression to ``resource -> [(fhir_type, json_value), ...]``."""
    return compile_typed(expr)
