"""Operation parameters in (query string or a ``Parameters`` body) and ``Parameters`` out.

GET carries primitive parameters in the query string; POST carries a ``Parameters`` resource (FHIR R4
operations.html §"Executing operations"), whose query-string parameters are merged in as well.
Complex parameters (``coding``, ``codeableConcept``, ``valueSet``, ``conceptMap``...) only come in a body.
Every malformed input is a 400 OperationOutcome naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rhip.fhir.errors import FhirError, OutcomeIssue
from rhip.fhir.rest import FhirRequest, parse_body
from rhip.fhir.validation import validate_resource
from rhip.terminology import dates
from rhip.terminology.codesystem import PropValue, language_of

_PRIMITIVE_VALUE = (
    "valueCode",
    "valueUri",
    "valueString",
    "valueCanonical",
    "valueUrl",
    "valueDateTime",
    "valueDate",
    "valueInteger",
    "valueBoolean",
    "valueId",
    "valueOid",
    "valueUnsignedInt",
    "valuePositiveInt",
    "valueDecimal",
    "valueInstant",
)
MAX_PARAMS = 200
_INTEGER = re.compile(r"^-?[0-9]{1,9}$")


def bad(name: str, en: str, zh: str) -> FhirError:
    return FhirError.bad_request(f"parameter '{name}': {en}", f"参数 {name}：{zh}", name)


@dataclass(slots=True)
class Params:
    """The parameters of one operation call: primitives as text, complex values as JSON objects."""

    values: dict[str, list[str]] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    parts: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    accept_language: str | None = None

    def one(self, name: str, *, empty_ok: bool = False) -> str | None:
        """A 0..1 primitive parameter (400 if repeated, or empty unless ``empty_ok``: then None)."""
        vals = self.values.get(name)
        if not vals:
            return None
        if len(vals) > 1:
            raise bad(name, "may occur only once", "只能出现一次")
        if vals[0] == "":
            if empty_ok:
                return None
            raise bad(name, "is empty", "不能为空")
        return vals[0]

    def many(self, name: str) -> list[str]:
        return [v for v in self.values.get(name, []) if v != ""]

    def obj(self, name: str) -> dict[str, Any] | None:
        items = self.objects.get(name)
        if not items:
            return None
        if len(items) > 1:
            raise bad(name, "may occur only once", "只能出现一次")
        return items[0]

    def flag(self, name: str) -> bool | None:
        v = self.one(name)
        if v is None:
            return None
        if v not in ("true", "false"):
            raise bad(name, f"must be true or false, not {v!r}", "必须是 true 或 false")
        return v == "true"

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        v = self.one(name)
        if v is None:
            return None
        if not _INTEGER.match(v) or int(v) < minimum:
            raise bad(name, f"must be an integer ≥ {minimum}, not {v!r}", f"必须是不小于 {minimum} 的整数")
        return int(v)

    def date(self) -> date | None:
        return dates.parse_param(self.one("date"))

    def language(self) -> str | None:
        """``zh`` or ``en`` from ``displayLanguage``, else the first tag of Accept-Language; None = default."""
        tag = self.one("displayLanguage")
        if tag is None and self.accept_language:
            tag = self.accept_language.split(",")[0].split(";")[0].strip()
        return language_of(tag)

    def require(self, name: str) -> str:
        v = self.one(name)
        if v is None:
            raise bad(name, "is required", "为必填参数")
        return v


def _primitive(p: dict[str, Any]) -> str | None:
    for key in _PRIMITIVE_VALUE:
        if key in p:
            v = p[key]
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, (str, int)):
                return str(v)
            return str(v) if v is not None and not isinstance(v, (dict, list)) else None
    return None


def _add_body(out: Params, body: Any) -> None:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.bad_request("the body must be a Parameters resource", "请求体必须是 Parameters 资源")
    items = body.get("parameter", [])
    if not isinstance(items, list) or len(items) > MAX_PARAMS:
        raise FhirError.bad_request("Parameters.parameter must be a list of at most 200", "Parameters.parameter 无效")
    for i, p in enumerate(items):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise FhirError.bad_request(
                f"Parameters.parameter[{i}] has no name", "参数缺少 name", f"Parameters.parameter[{i}]"
            )
        name = p["name"]
        if isinstance(p.get("resource"), dict):
            out.objects.setdefault(name, []).append(p["resource"])
            continue
        if isinstance(p.get("part"), list):
            out.parts.setdefault(name, []).append([x for x in p["part"] if isinstance(x, dict)])
            continue
        for key in ("valueCoding", "valueCodeableConcept"):
            if isinstance(p.get(key), dict):
                out.objects.setdefault(name, []).append(p[key])
                break
        else:
            value = _primitive(p)
            if value is None:
                raise FhirError.bad_request(
                    f"parameter '{name}' has no usable value", f"参数 {name} 没有有效的值", f"Parameters.parameter[{i}]"
                )
            out.values.setdefault(name, []).append(value)


def read(req: FhirRequest) -> Params:
    """The parameters of a request: the query string, plus the ``Parameters`` body of a POST."""
    out = Params(accept_language=req.header("accept-language"))
    for k, v in req.query:
        out.values.setdefault(k, []).append(v)
    if req.method.upper() == "POST" and (req.body or req.parsed is not None):
        _add_body(out, parse_body(req))
    return out


def coding_of(obj: Mapping[str, Any], name: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(system, version, code, display) of a Coding parameter; 400 when a field has the wrong type."""
    out: list[str | None] = []
    for key in ("system", "version", "code", "display"):
        v = obj.get(key)
        if v is not None and not isinstance(v, str):
            raise bad(name, f"{key} must be a string", f"{key} 必须是字符串")
        out.append(v or None)
    return out[0], out[1], out[2], out[3]


def codings_of(cc: Mapping[str, Any], name: str) -> list[tuple[str | None, str | None, str | None, str | None]]:
    """The codings of a CodeableConcept parameter (each with a code); 400 when malformed."""
    items = cc.get("coding")
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise bad(name, "needs at least one coding", "至少需要一个 coding")
    out = [coding_of(x, name) for x in items]
    if any(c is None for _, _, c, _ in out):
        raise bad(name, "a coding has no code", "存在缺少 code 的 coding")
    return out


# ----------------------------------------------------------------------------- output


def _value(v: PropValue | dict[str, Any]) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"valueBoolean": v}
    if isinstance(v, int):
        return {"valueInteger": v}
    if isinstance(v, dict):
        return {"valueCoding": v}
    return {"valueString": v}


class Out:
    """Builds an output ``Parameters`` resource in the order parameters are added."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, name: str, **value: Any) -> Out:
        self.items.append({"name": name, **value})
        return self

    def part(self, name: str, parts: Iterable[dict[str, Any]]) -> Out:
        self.items.append({"name": name, "part": list(parts)})
        return self

    def resource(self) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": self.items}


def prop_part(code: str, value: PropValue, *, as_code: bool = False) -> list[dict[str, Any]]:
    """The parts of one ``$lookup`` ``property`` output parameter."""
    val: dict[str, Any] = {"valueCode": value} if as_code and isinstance(value, str) else _value(value)
    return [{"name": "code", "valueCode": code}, {"name": "value", **val}]


def inline(p: Params, name: str, rtype: str) -> dict[str, Any] | None:
    """A resource passed in the body (``valueSet``, ``codeSystem``, ``conceptMap``), checked against R4."""
    res = p.obj(name)
    if res is None:
        return None
    if res.get("resourceType") != rtype:
        raise bad(name, f"must be a {rtype} resource", f"必须是 {rtype} 资源")
    errors = [i for i in validate_resource(res) if i.severity in ("error", "fatal")]
    if errors:
        raise FhirError.invalid(
            [OutcomeIssue(i.severity, i.code, f"{name}: {i.diagnostics}", i.text_zh, i.expression) for i in errors]
        )
    return res
