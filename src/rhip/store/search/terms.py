"""SQL for one search criterion: a ``rid IN (...)`` condition per parameter type (FHIR R4 search.html).

Each parameter type matches against its own index table (see rhip.store.schema); OR values become
``OR`` inside one sub-select, AND repetitions become separate conditions, ``:missing`` and ``:not``
become anti-joins. Chains and ``_has`` nest these sub-selects through the reference index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, literal_column, not_, or_, select

from rhip.fhir.definitions import compartment_params
from rhip.fhir.errors import FhirError
from rhip.fhir.search.params import registry
from rhip.fhir.search.parse import Criterion, split_escaped, split_prefix, unescape
from rhip.fhir.search.values import date_range, normalize_string, number_range
from rhip.security.fields import index_values
from rhip.store.dialect import like_escape
from rhip.store.schema import (
    INDEX_TABLES,
    idx_number,
    idx_quantity,
    idx_reference,
    idx_token,
    resource_versions,
    resources,
)

TABLES = INDEX_TABLES


@dataclass(frozen=True, slots=True)
class Env:
    tz: tzinfo
    base_url: str | None
    now_ms: int


def _bad(msg: str, zh: str, expr: str | None = None) -> FhirError:
    return FhirError.bad_request(msg, zh, expr)


def rid_condition(crit: Criterion, env: Env, base: Any = resources) -> ColumnElement[bool]:
    """Condition on ``base`` (``resources`` or an alias of it, rows of ``crit.rtype``) for one AND-term."""
    r = base.c
    if crit.any_of:
        return or_(*(and_(r.rtype == c.rtype, rid_condition(c, env, base)) for c in crit.any_of))
    if crit.code == "_id":
        cond = r.id.in_([unescape(v) for v in crit.values])
        return not_(cond) if crit.modifier == "not" else cond
    if crit.code == "_lastUpdated":
        return or_(*(_date_match(r.lu, r.lu, v, env) for v in crit.values))
    if crit.code in ("_text", "_content"):
        return _fulltext(crit, base)
    if crit.has is not None:
        return r.id.in_(_has_subquery(crit, env))
    if crit.chain is not None:
        return r.rid.in_(_chain_subquery(crit, env))
    if crit.modifier == "missing":
        sub = _param_rows(crit)
        return r.rid.notin_(sub) if crit.values[0] == "true" else r.rid.in_(sub)
    if crit.type == "token" and crit.modifier == "not":
        positive = Criterion(crit.rtype, crit.code, crit.type, crit.param, None, crit.values)
        return r.rid.notin_(matching_rids(positive, env))
    return r.rid.in_(matching_rids(crit, env))


def _param_rows(crit: Criterion) -> Select[Any]:
    table = TABLES.get(crit.type)
    if crit.type == "composite":
        table, code = _component_table(crit, 0), f"{crit.code}$0"
    else:
        code = crit.code
    if crit.code == "near":
        table, code = idx_number, "near:latitude"
    if table is None:
        raise FhirError.not_supported(f":missing is not supported for '{crit.code}'")
    t = table.c
    rows = select(t.rid).where(t.rtype == crit.rtype, t.code == code, *_ordinary(table))
    if crit.type == "reference":
        # A reference given only by identifier has no reference row, but it is not missing.
        i = idx_token.c
        both = rows.union(select(i.rid).where(i.rtype == crit.rtype, i.code == f"{code}:identifier")).subquery()
        return select(both.c.rid)
    return rows


def matching_rids(crit: Criterion, env: Env) -> Select[Any]:
    """Sub-select of rids whose index rows match any of the criterion's OR-values."""
    if crit.type == "composite":
        return _composite(crit, env)
    if crit.code == "near":
        return _near(crit)
    table = TABLES[crit.type]
    t = table.c
    code = crit.code
    if crit.type == "token" and crit.modifier == "of-type":
        code = f"{crit.code}:of-type"
    if crit.type == "reference" and crit.modifier == "identifier":
        table, t, code = idx_token, idx_token.c, f"{crit.code}:identifier"
        conds = [_token_match(t, v, None, sealed=True) for v in crit.values]
    else:
        conds = [value_condition(crit, t, v, env) for v in crit.values]
    return select(t.rid).where(t.rtype == crit.rtype, t.code == code, or_(*conds), *_ordinary(table))


def _ordinary(table: Any) -> tuple[ColumnElement[bool], ...]:
    """``grp = 0`` (inline, so both engines can use the partial value index) for ``idx_quantity``."""
    return (table.c.grp == literal_column("0"),) if table is idx_quantity else ()


def value_condition(crit: Criterion, t: Any, value: str, env: Env) -> ColumnElement[bool]:
    """Match of one value against the columns ``t`` of the criterion type's index table."""
    kind = crit.type
    if kind == "string":
        return _string_match(t, value, crit.modifier)
    if kind == "token":
        return _token_match(t, value, crit.modifier, sealed=_may_be_sealed(crit))
    if kind == "reference":
        return _reference_match(t, value, crit, env)
    if kind == "date":
        return _date_match(t.low, t.high, value, env)
    if kind == "number":
        return _number_match(t, value)
    if kind == "quantity":
        return _quantity_match(t, value)
    if kind == "uri":
        return _uri_match(t, value, crit.modifier)
    raise FhirError.not_supported(f"search parameter type '{kind}' is not supported here")


def _string_match(t: Any, value: str, modifier: str | None) -> ColumnElement[bool]:
    value = unescape(value)
    if modifier == "exact":
        return t.exact == value
    norm = like_escape(normalize_string(value))
    if modifier == "contains":
        return t.value.like(f"%{norm}%", escape="\\")
    return t.value.like(f"{norm}%", escape="\\")


def _may_be_sealed(crit: Criterion) -> bool:
    """Whether the parameter indexes Identifiers or ContactPoints (whose values may be blind-indexed)."""
    if crit.modifier == "of-type":
        return True
    return crit.param is not None and not crit.param.result_types.isdisjoint(("Identifier", "ContactPoint"))


def _value_is(t: Any, value: str, system: str | None, sealed: bool) -> ColumnElement[bool]:
    """``t.value`` equals ``value`` as written or, for a value that may be sealed, its blind index
    under every key (a search cannot know which key indexed a row during a rotation)."""
    if not sealed:
        return t.value == value
    values = index_values(value, system)
    return t.value == values[0] if len(values) == 1 else t.value.in_(values)


def _token_match(t: Any, value: str, modifier: str | None, *, sealed: bool = False) -> ColumnElement[bool]:
    if modifier == "text":
        return t.text.like(f"{like_escape(normalize_string(unescape(value)))}%", escape="\\")
    if modifier == "of-type":
        parts = split_escaped(value, "|")
        if len(parts) != 3 or not all(parts):
            raise _bad(f":of-type needs system|code|value, got '{value}'", ":of-type 需要 system|code|value 格式")
        return and_(t.system == f"{parts[0]}|{parts[1]}", _value_is(t, parts[2], None, sealed))
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return _value_is(t, parts[0], None, sealed)
    if len(parts) != 2:
        raise _bad(f"invalid token '{value}'", f"令牌值格式无效：{value}")
    system, code = parts
    if system == "":
        return and_(t.system.is_(None), _value_is(t, code, None, sealed))
    if code == "":
        return t.system == system
    return and_(t.system == system, _value_is(t, code, system, sealed))


def _reference_match(t: Any, value: str, crit: Criterion, env: Env) -> ColumnElement[bool]:
    target = _reference_target(value, crit, env)
    if isinstance(target, str):
        return t.url == target
    rtype, rid = target
    if rtype is None:
        return t.ref_id == rid
    return and_(t.ref_type == rtype, t.ref_id == rid) if rtype else false()


def _reference_target(value: str, crit: Criterion, env: Env) -> str | tuple[str | None, str]:
    """What a reference value names: an absolute URL (not this server's), or ``(type, id)`` of a local
    resource; the type is None when neither the value nor a ``:Type`` modifier gives it, and ``""``
    when they contradict each other (nothing matches)."""
    value = unescape(value)
    type_mod = crit.modifier if crit.modifier and crit.modifier[0].isupper() else None
    if env.base_url and value.startswith(env.base_url + "/"):
        value = value[len(env.base_url) + 1 :]
    if "://" in value or value.startswith("urn:"):
        return value.split("|", 1)[0]
    parts = value.split("/")
    if len(parts) in (2, 4) and parts[0][:1].isupper() and (len(parts) == 2 or parts[2] == "_history"):
        return ("" if type_mod and type_mod != parts[0] else parts[0]), parts[1]
    if len(parts) != 1:
        raise _bad(f"invalid reference '{value}'", f"引用值格式无效：{value}")
    return type_mod, value


def pinned_patient(types: tuple[str, ...], criteria: list[Criterion], env: Env) -> str | None:
    """The one patient whose record holds every match of a search, when its own criteria say so: a
    single-type search with an AND-term naming one local ``Patient/<id>`` through a parameter that places
    the type in the Patient compartment (or ``patient``, which the R4 definitions write as such a
    parameter restricted to Patient references, e.g. ``Observation.subject.where(resolve() is Patient)``).
    Row access may then decide for that patient once instead of per row (``rhip.store.access``)."""
    if len(types) != 1:
        return None
    members = compartment_params().get(types[0], ())
    for crit in criteria:
        plain = crit.type == "reference" and crit.rtype == types[0] and len(crit.values) == 1
        if not plain or crit.chain or crit.has or crit.any_of or crit.modifier not in (None, "Patient"):
            continue
        if crit.code not in members and not _patient_form_of_member(crit, members):
            continue
        target = _reference_target(crit.values[0], crit, env)
        if isinstance(target, tuple) and target[1]:
            rtype, rid = target
            only_patients = crit.param is not None and crit.param.target == ("Patient",)
            if rtype == "Patient" or (rtype is None and only_patients):
                return rid
    return None


SELECTIVE_VALUES = 10
"""The most values a selective criterion (``selective``) may list."""


def selective(types: tuple[str, ...], criteria: list[Criterion]) -> bool:
    """Whether a search names its matches one by one, so they are a few rows: a single-type search with
    an AND-term of ``_id`` or of ``identifier`` with a system and a value on each of its (at most
    ``SELECTIVE_VALUES``) values (an identifier is meant to be unique within its system: an ID number,
    a hospital's record number). Row access may then test each match on its own instead of handing all
    of them to the access function at once (``rhip.store.access.RowAccess.per_row``)."""
    if len(types) != 1:
        return False
    for crit in criteria:
        plain = crit.rtype == types[0] and 0 < len(crit.values) <= SELECTIVE_VALUES and crit.modifier is None
        if not plain or crit.chain or crit.has or crit.any_of:
            continue
        if crit.code == "_id":
            return True
        if crit.code == "identifier" and crit.type == "token" and all(_system_and_value(v) for v in crit.values):
            return True
    return False


def _system_and_value(value: str) -> bool:
    parts = split_escaped(value, "|")
    return len(parts) == 2 and all(parts)


def _patient_form_of_member(crit: Criterion, members: tuple[str, ...]) -> bool:
    """``crit`` is ``<member expression>.where(resolve() is Patient)`` for a compartment parameter."""
    expression = crit.param.expression if crit.param is not None else None
    if not expression or not expression.endswith(".where(resolve() is Patient)"):
        return False
    inner = expression.removesuffix(".where(resolve() is Patient)")
    for code in members:
        member = registry().get(crit.rtype, code)
        if member is not None and member.expression == inner:
            return True
    return False


def date_range_ms(value: str, tz: tzinfo, name: str | None = None) -> tuple[int, int]:
    """A FHIR date/dateTime search value as [low, high] epoch ms; 400 when it is not a date."""
    try:
        return date_range(value, tz)
    except (ValueError, OverflowError):
        raise _bad(f"invalid date '{value}'", f"日期无效：{value}", name) from None


def _date_match(low: Any, high: Any, value: str, env: Env) -> ColumnElement[bool]:
    prefix, body = split_prefix(value)
    lo, hi = date_range_ms(body, env.tz)
    return range_condition(prefix, low, high, lo, hi, env.now_ms)


def range_condition(prefix: str, low: Any, high: Any, lo: Any, hi: Any, now: float) -> ColumnElement[bool]:
    """Target range [low, high] against search range [lo, hi] (FHIR R4 search §3.1.1.4.1)."""
    eq = and_(low >= lo, high <= hi)
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return not_(eq)
    if prefix == "gt":
        return high > hi
    if prefix == "lt":
        return low < lo
    if prefix == "ge":
        return or_(high > hi, eq)
    if prefix == "le":
        return or_(low < lo, eq)
    if prefix == "sa":
        return low > hi
    if prefix == "eb":
        return high < lo
    if prefix == "ap":
        gap = abs(now - lo) * 0.1 if isinstance(lo, int) else abs(float(lo)) * 0.1
        return and_(low <= hi + gap, high >= lo - gap)
    raise _bad(f"unsupported prefix '{prefix}'", f"不支持的前缀：{prefix}")


def _decimal(text: str, value: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _bad(f"invalid number '{value}'", f"数值无效：{value}") from None


def _number_match(t: Any, value: str) -> ColumnElement[bool]:
    prefix, body = split_prefix(value)
    d = _decimal(body, value)
    exact, lo, hi = number_range(d)
    if prefix == "eq":
        return and_(t.value >= lo, t.value < hi)
    if prefix == "ne":
        return or_(t.value < lo, t.value >= hi)
    if prefix == "ap":
        gap = abs(exact) * 0.1
        return and_(t.value >= exact - gap, t.value <= exact + gap)
    ops = {
        "gt": t.value > exact,
        "lt": t.value < exact,
        "ge": t.value >= exact,
        "le": t.value <= exact,
        "sa": t.value > exact,
        "eb": t.value < exact,
    }
    return ops[prefix]


def _quantity_match(t: Any, value: str) -> ColumnElement[bool]:
    prefix, body = split_prefix(value)
    parts = split_escaped(body, "|")
    if len(parts) not in (1, 3):
        raise _bad(f"quantity must be number|system|code, got '{value}'", f"数量格式无效：{value}")
    cond = _number_match(t, prefix + parts[0] if prefix != "eq" else parts[0])
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        if system:
            cond = and_(cond, t.system == system)
        if code:
            cond = and_(cond, t.unit == code)
    return cond


def _uri_match(t: Any, value: str, modifier: str | None) -> ColumnElement[bool]:
    value = unescape(value)
    if modifier == "below":
        return t.value.like(f"{like_escape(value)}%", escape="\\")
    if modifier == "above":
        prefixes = []
        cut = value
        while cut and "/" in cut:
            prefixes.append(cut)
            cut = cut.rsplit("/", 1)[0]
        return t.value.in_(prefixes or [value])
    return t.value == value


def _component_table(crit: Criterion, i: int) -> Any:
    assert crit.param is not None
    if i >= len(crit.param.components):
        raise _bad(f"too many components for '{crit.code}'", f"组合参数 {crit.code} 的分量过多")
    comp = registry().by_url(crit.param.components[i][0])
    if comp is None:
        raise FhirError.not_supported(f"composite '{crit.code}' has an unknown component")
    return TABLES[comp.type], comp


def _composite(crit: Criterion, env: Env) -> Select[Any]:
    assert crit.param is not None
    n = len(crit.param.components)
    alternatives = []
    for value in crit.values:
        parts = split_escaped(value, "$")
        if len(parts) != n:
            raise _bad(
                f"composite '{crit.code}' needs {n} values separated by $, got '{value}'",
                f"组合参数 {crit.code} 需要 {n} 个以 $ 分隔的值",
            )
        alternatives.append(parts)
    ors = []
    for parts in alternatives:
        aliases = []
        conds: list[ColumnElement[bool]] = []
        for i, part in enumerate(parts):
            table, comp = _component_table(crit, i)
            a = table.alias()
            aliases.append(a)
            sub = Criterion(crit.rtype, comp.code, comp.type, comp, None, (part,))
            conds.append(a.c.code == f"{crit.code}${i}")
            conds.append(a.c.rtype == crit.rtype)
            conds.append(value_condition(sub, a.c, part, env))
            if i:
                conds.append(a.c.rid == aliases[0].c.rid)
                conds.append(a.c.grp == aliases[0].c.grp)
        ors.append(select(aliases[0].c.rid).where(*conds))
    if len(ors) == 1:
        return ors[0]
    union = ors[0].union(*ors[1:]).subquery()
    return select(union.c.rid)


def _near(crit: Criterion) -> Select[Any]:
    # near=lat|long|distance|unit (km default): a bounding box on the indexed position.
    parts = split_escaped(crit.values[0], "|")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        dist = float(parts[2]) if len(parts) > 2 and parts[2] else 1.0
    except (ValueError, IndexError):
        raise _bad(
            f"near must be latitude|longitude|distance|units, got '{crit.values[0]}'", "near 参数格式无效"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= dist < math.inf):  # also rejects NaN
        raise _bad(f"near: latitude, longitude or distance out of range in '{crit.values[0]}'", "near 参数超出范围")
    unit = parts[3] if len(parts) > 3 else "km"
    km = dist * {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344}.get(unit, 1.0)
    dlat = km / 111.0
    la, lo = idx_number.alias(), idx_number.alias()

    dlon = km / max(1e-6, 111.0 * math.cos(math.radians(lat)))
    return select(la.c.rid).where(
        la.c.rtype == crit.rtype,
        la.c.code == "near:latitude",
        la.c.value.between(lat - dlat, lat + dlat),
        lo.c.rid == la.c.rid,
        lo.c.code == "near:longitude",
        lo.c.value.between(lon - dlon, lon + dlon),
    )


def _chain_subquery(crit: Criterion, env: Env) -> Select[Any]:
    assert crit.chain is not None
    x = idx_reference.alias()
    target = resources.alias()
    inner = crit.chain
    inner_conds = []
    for ttype in crit.target_types:
        tc = Criterion(
            ttype,
            inner.code,
            inner.type,
            registry().get(ttype, inner.code) if inner.param else None,
            inner.modifier,
            inner.values,
            inner.chain,
            inner.target_types,
            inner.has,
            inner.has_ref_code,
        )
        inner_conds.append(and_(target.c.rtype == ttype, rid_condition(tc, env, target)))
    return (
        select(x.c.rid)
        .select_from(
            x.join(
                target,
                and_(target.c.rtype == x.c.ref_type, target.c.id == x.c.ref_id, target.c.deleted.is_(False)),
            )
        )
        .where(x.c.rtype == crit.rtype, x.c.code == crit.code, or_(*inner_conds) if inner_conds else false())
    )


def _has_subquery(crit: Criterion, env: Env) -> Select[Any]:
    """ids of ``crit.rtype`` resources referred to by matching ``_has`` source resources."""
    assert crit.has is not None
    assert crit.has_ref_code is not None
    src_type = crit.target_types[0]
    x = idx_reference.alias()
    src = resources.alias()
    inner = rid_condition(crit.has, env, src)
    return (
        select(x.c.ref_id)
        .select_from(x.join(src, src.c.rid == x.c.rid))
        .where(x.c.rtype == src_type, x.c.code == crit.has_ref_code, x.c.ref_type == crit.rtype, inner)
    )


def _fulltext(crit: Criterion, base: Any) -> ColumnElement[bool]:
    """``_text`` / ``_content``: case-insensitive substring match on the stored JSON (small sets only)."""
    v = resource_versions
    conds = []
    for value in crit.values:
        needle = like_escape(unescape(value).lower())
        conds.append(v.c.content.ilike(f"%{needle}%", escape="\\"))
    sub = select(v.c.rid).where(
        v.c.rid == base.c.rid, v.c.version == base.c.version, v.c.rtype == crit.rtype, or_(*conds)
    )
    return sub.exists()
