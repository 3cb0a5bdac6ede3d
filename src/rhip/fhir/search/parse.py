"""Parse a FHIR search query string into a typed ``SearchQuery`` (FHIR R4 §3.1.1, search.html).

Parsing is pure: no database. It resolves each parameter against the registry of R4 search
parameters, splits OR values (commas) and AND repetitions, modifiers, prefixes, chains and ``_has``,
and the result-shaping parameters. Unknown parameters become warnings, or a 400 under
``Prefer: handling=strict``; malformed values are always a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rhip.fhir.errors import FhirError, OutcomeIssue
from rhip.fhir.model import is_resource_type
from rhip.fhir.search.params import SearchParam, registry

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
PREFIXED_TYPES = frozenset({"date", "number", "quantity"})
RESULT_PARAMS = frozenset(
    {
        "_sort",
        "_count",
        "_total",
        "_summary",
        "_elements",
        "_include",
        "_revinclude",
        "_cursor",
        "_format",
        "_pretty",
        "_contained",
        "_containedType",
    }
)
MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains", "missing"}),
    "token": frozenset({"not", "text", "of-type", "missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "date": frozenset({"missing"}),
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "uri": frozenset({"missing", "below", "above"}),
    "composite": frozenset({"missing"}),
    "special": frozenset({"missing"}),
}
_CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
MAX_VALUES = 100
"""Upper bound on OR values plus AND repetitions of one query, against pathological queries."""


def split_escaped(value: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; unescape ``\\,`` ``\\|`` ``\\$`` ``\\\\``."""
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == sep:
                buf.append(nxt)
            else:
                buf.append(ch + nxt)
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def unescape(value: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", value)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One AND-term: a parameter with its OR-values on resources of ``rtype``.

    ``chain`` holds a nested criterion on the referenced resources (``subject:Patient.name=x``);
    ``has`` a reverse-chain criterion (``_has:Observation:patient:code=x``).
    """

    rtype: str
    code: str
    type: str
    param: SearchParam | None
    modifier: str | None = None
    values: tuple[str, ...] = ()
    chain: Criterion | None = None
    target_types: tuple[str, ...] = ()
    has: Criterion | None = None
    has_ref_code: str | None = None
    any_of: tuple[Criterion, ...] = ()
    """System search over several ``_type``s: the same term parsed for each type (OR-ed by type)."""


@dataclass(frozen=True, slots=True)
class Include:
    source: str
    code: str | None
    """None for ``*`` (every reference parameter)."""
    target: str | None
    iterate: bool


@dataclass(slots=True)
class SearchQuery:
    rtype: str | None
    types: tuple[str, ...]
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    """(code, descending) pairs."""
    count: int = 50
    total: Literal["none", "estimate", "accurate"] = "accurate"
    summary: str | None = None
    elements: tuple[str, ...] | None = None
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    cursor: str | None = None
    warnings: list[OutcomeIssue] = field(default_factory=list)
    echo: list[tuple[str, str]] = field(default_factory=list)
    """The parameters actually applied, for the Bundle's self link."""


def _bad(msg: str, zh: str, expr: str | None = None) -> FhirError:
    return FhirError.bad_request(msg, zh, expr)


def parse_query(
    rtype: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool = False,
    default_count: int = 50,
    max_count: int = 1000,
    default_total: Literal["none", "estimate", "accurate"] = "accurate",
) -> SearchQuery:
    """Turn (name, value) pairs into a SearchQuery for one type (or all types when ``rtype`` is None)."""
    types: tuple[str, ...] = (rtype,) if rtype else ()
    type_values = [v for k, v in params if k == "_type"]
    if rtype is None and type_values:
        types = tuple(t for v in type_values for t in v.split(",") if t)
        for t in types:
            if not is_resource_type(t):
                raise _bad(f"Unknown resource type '{t}' in _type", f"_type 中的资源类型未知：{t}", "_type")
    q = SearchQuery(rtype, types, count=default_count, total=default_total)
    n_values = 0
    for name, value in params:
        if name == "_type" and rtype is None:
            q.echo.append((name, value))
            continue
        if name in RESULT_PARAMS:
            _result_param(q, name, value, max_count)
            if name == "_count":
                q.echo.append((name, str(q.count)))  # the page size applied, after the cap
            elif name not in ("_cursor", "_format", "_pretty"):
                q.echo.append((name, value))
            continue
        crit = _criterion(rtype, types, name, value, q, strict)
        if crit is not None:
            n_values += len(crit.values)
            if n_values > MAX_VALUES:
                raise FhirError.too_costly(f"more than {MAX_VALUES} search values in one query")
            q.criteria.append(crit)
            q.echo.append((name, value))
    return q


def _result_param(q: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name == "_count":
        if not (value.isascii() and value.isdigit()) or len(value) > 7:
            raise _bad(f"_count must be a non-negative integer, got '{value}'", "_count 必须是非负整数", "_count")
        q.count = min(int(value), max_count)
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise _bad(f"_total must be none, estimate or accurate, got '{value}'", "_total 取值无效", "_total")
        q.total = value  # type: ignore[assignment]
    elif name == "_summary":
        if value not in ("true", "false", "text", "data", "count"):
            raise _bad(f"invalid _summary '{value}'", "_summary 取值无效", "_summary")
        q.summary = None if value == "false" else value
    elif name == "_elements":
        q.elements = tuple(e.strip() for e in value.split(",") if e.strip())
    elif name == "_sort":
        for key in value.split(","):
            key = key.strip()
            if not key:
                continue
            desc = key.startswith("-")
            code = key[1:] if desc else key
            _check_sort_param(q, code)
            q.sort.append((code, desc))
    elif name in ("_include", "_revinclude"):
        q.include.append(_include(value, name)) if name == "_include" else q.revinclude.append(_include(value, name))
    elif name == "_cursor":
        q.cursor = value
    elif name == "_contained" and value != "false":
        raise FhirError.not_supported("_contained searches are not supported")


def _check_sort_param(q: SearchQuery, code: str) -> None:
    if code in ("_id", "_lastUpdated"):
        return
    reg = registry()
    for t in q.types or ("Resource",):
        p = reg.get(t, code)
        if p is not None and p.type not in ("composite", "special"):
            return
    raise _bad(f"cannot sort by unknown parameter '{code}'", f"无法按未知参数排序：{code}", "_sort")


def _include(value: str, name: str) -> Include:
    iterate = False
    base = name
    parts = value.split(":")
    if len(parts) < 2:
        raise _bad(f"{name} must be Type:param[:target], got '{value}'", f"{name} 格式无效", name)
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) > 2 else None
    if not is_resource_type(source):
        raise _bad(f"unknown resource type '{source}' in {base}", f"{base} 中的资源类型未知", name)
    if target is not None and not is_resource_type(target):
        raise _bad(f"unknown target type '{target}' in {base}", f"{base} 中的目标类型未知", name)
    if code == "*":
        return Include(source, None, target, iterate)
    p = registry().get(source, code)
    if p is None or p.type != "reference":
        raise _bad(
            f"'{source}:{code}' is not a reference search parameter", f"{source}:{code} 不是引用型检索参数", name
        )
    return Include(source, code, target, iterate)


def parse_include_name(name: str) -> tuple[str, bool]:
    """Strip ``:iterate`` / ``:recurse`` from ``_include:iterate``."""
    base, _, mod = name.partition(":")
    return base, mod in ("iterate", "recurse")


def _criterion(
    rtype: str | None, types: tuple[str, ...], name: str, value: str, q: SearchQuery, strict: bool
) -> Criterion | None:
    if name.startswith(("_include:", "_revinclude:")):
        base, iterate = parse_include_name(name)
        inc = _include(value, base)
        inc = Include(inc.source, inc.code, inc.target, iterate)
        (q.include if base == "_include" else q.revinclude).append(inc)
        return None
    if name.startswith("_has:"):
        if rtype is None:
            raise _bad("_has needs a resource type", "_has 需要指定资源类型", name)
        return _has(rtype, name, value)
    ctype = rtype or (types[0] if len(types) == 1 else "Resource")
    try:
        if rtype is None and len(types) > 1:
            # A parameter common to every listed type (R4 search §_type), e.g. name on Patient and Practitioner.
            alts = tuple(parse_term(t, name, value) for t in types)
            first = alts[0]
            return Criterion(
                first.rtype, first.code, first.type, first.param, first.modifier, first.values, any_of=alts
            )
        return parse_term(ctype, name, value)
    except _Unknown as exc:
        if strict:
            raise _bad(str(exc), f"未知的检索参数：{name}", name) from None
        q.warnings.append(
            OutcomeIssue("warning", "not-supported", f"{exc}; ignored", f"已忽略未知的检索参数：{name}", name)
        )
        return None


class _Unknown(Exception):  # noqa: N818 - private, reads better at the raise sites
    pass


def parse_term(rtype: str, name: str, value: str) -> Criterion:
    """Parse ``name[:modifier][.chain]=value`` for resources of ``rtype``."""
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    if not _CODE_RE.match(code):
        raise _bad(f"invalid parameter name '{name}'", f"检索参数名无效：{name}", name)
    if code == "_id":
        return Criterion(rtype, code, "token", None, modifier or None, tuple(split_escaped(value, ",")))
    if code == "_lastUpdated":
        vals = tuple(split_escaped(value, ","))
        return Criterion(rtype, code, "date", None, modifier or None, _check_values("date", vals, code))
    if code in ("_text", "_content"):
        return Criterion(rtype, code, "string", None, modifier or None, tuple(split_escaped(value, ",")))
    param = registry().get(rtype, code)
    if param is None:
        raise _Unknown(f"unknown search parameter '{code}' for {rtype}")
    if dot:
        if param.type != "reference":
            raise _bad(f"'{code}' is not a reference parameter and cannot be chained", "非引用型参数不能链式检索", name)
        targets = _targets(param, modifier)
        inner_type = targets[0] if len(targets) == 1 else None
        inner = None
        for t in targets:
            try:
                inner = parse_term(t, rest, value)
                inner_type = t
                break
            except _Unknown:
                continue
        if inner is None:
            raise _Unknown(f"unknown chained parameter '{rest}' on {'/'.join(targets)}")
        ok_targets = tuple(t for t in targets if registry().get(t, inner.code) is not None or inner.param is None)
        del inner_type
        return Criterion(rtype, code, "reference", param, None, (), chain=inner, target_types=ok_targets)
    mod = modifier or None
    if mod is not None:
        allowed = MODIFIERS.get(param.type, frozenset())
        if param.type == "reference" and is_resource_type(mod):
            if mod not in param.target and param.target:
                raise _bad(f"'{mod}' is not a target of {rtype}.{code}", f"{mod} 不是 {code} 的目标类型", name)
        elif mod not in allowed:
            raise _bad(
                f"modifier ':{mod}' is not supported for {param.type} parameter '{code}'",
                f"检索参数 {code} 不支持修饰符 :{mod}",
                name,
            )
    values = tuple(split_escaped(value, ","))
    if mod == "missing":
        if value not in ("true", "false"):
            raise _bad(f":missing must be true or false, got '{value}'", ":missing 只能是 true 或 false", name)
        return Criterion(rtype, code, param.type, param, mod, (value,))
    if param.type == "special" and code != "near":
        raise FhirError.not_supported(f"search parameter '{code}' is not supported")
    return Criterion(rtype, code, param.type, param, mod, _check_values(param.type, values, name))


def _targets(param: SearchParam, modifier: str) -> tuple[str, ...]:
    if modifier:
        if not is_resource_type(modifier):
            raise _bad(f"unknown resource type '{modifier}' in chain", f"链式检索中的资源类型未知：{modifier}")
        return (modifier,)
    targets = tuple(t for t in param.target if t != "Resource" and is_resource_type(t))
    if not targets:
        raise _bad(f"chained parameter '{param.code}' needs a type modifier", "链式检索需要指定目标类型")
    return targets


def _has(rtype: str, name: str, value: str) -> Criterion:
    # _has:Observation:patient:code=1234  or nested _has:Observation:patient:_has:AuditEvent:entity:agent
    parts = name.split(":", 3)
    if len(parts) < 4:
        raise _bad(f"_has must be _has:Type:reference:param, got '{name}'", "_has 格式无效", name)
    _, src, ref_code, rest = parts
    if not is_resource_type(src):
        raise _bad(f"unknown resource type '{src}' in _has", f"_has 中的资源类型未知：{src}", name)
    ref = registry().get(src, ref_code)
    if ref is None or ref.type != "reference":
        raise _bad(f"'{src}:{ref_code}' is not a reference parameter", f"{src}:{ref_code} 不是引用型参数", name)
    if rtype not in ref.target and "Resource" not in ref.target and ref.target:
        raise _bad(f"{src}.{ref_code} cannot refer to {rtype}", f"{src}.{ref_code} 不能引用 {rtype}", name)
    if rest.startswith("_has:"):
        inner = _has(src, rest, value)
    else:
        try:
            inner = parse_term(src, rest, value)
        except _Unknown as exc:
            raise _bad(str(exc), f"未知的检索参数：{rest}", name) from None
    return Criterion(rtype, "_has", "has", None, None, (), has=inner, has_ref_code=ref_code, target_types=(src,))


_NUMBER_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def _check_values(ptype: str, values: tuple[str, ...], name: str) -> tuple[str, ...]:
    """Reject malformed values early so they become a 400, never a database error."""
    for v in values:
        if v == "" and ptype != "string":
            raise _bad(f"empty value for '{name}'", f"检索参数 {name} 的值为空", name)
        if len(v) > 2048:
            raise _bad(f"value for '{name}' is too long", f"检索参数 {name} 的值过长", name)
        if ptype == "date":
            _, body = split_prefix(v)
            if not _DATE_RE.match(body):
                raise _bad(f"invalid date '{v}' for '{name}'", f"日期格式无效：{v}", name)
        elif ptype == "number":
            _, body = split_prefix(v)
            if not _NUMBER_RE.match(body):
                raise _bad(f"invalid number '{v}' for '{name}'", f"数值格式无效：{v}", name)
        elif ptype == "quantity":
            _, body = split_prefix(v)
            num = split_escaped(body, "|")[0]
            if not _NUMBER_RE.match(num):
                raise _bad(f"invalid quantity '{v}' for '{name}'", f"数量格式无效：{v}", name)
    return values
