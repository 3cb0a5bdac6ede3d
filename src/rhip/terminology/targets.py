"""What an operation works on: the code system or value set named by id, URL or an inline resource.

Instance level (``CodeSystem/[id]/$validate-code``) reads the stored resource; type level takes the
canonical from the operation's URL parameter (``system`` for ``$lookup``/``$subsumes``, ``url`` for
``$validate-code``/``$expand``, with the code system of a ``coding`` as fall-back) or a resource sent in
the body (``codeSystem``, ``valueSet``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rhip.fhir.errors import FhirError
from rhip.store.repository import Unit
from rhip.terminology import service
from rhip.terminology.codesystem import CodeSystem, from_resource
from rhip.terminology.dates import ALWAYS
from rhip.terminology.params import Params, inline


def code_system(
    unit: Unit,
    p: Params,
    id: str | None,
    day: date | None,
    *,
    names: tuple[str, ...],
    fallback: str | None = None,
    version: str | None = None,
) -> CodeSystem:
    """The code system an operation targets; 400 when none is named, 404 when it is unknown."""
    if id is not None:
        return service.cs_model(service.by_id(unit, "CodeSystem", id))
    res = inline(p, "codeSystem", "CodeSystem")
    if res is not None:
        return from_resource(res, ALWAYS)
    url = next((v for v in (p.one(n) for n in names) if v is not None), None) or fallback
    if url is None:
        raise FhirError.bad_request(
            f"parameter '{names[0]}' is required (the code system's canonical URL)",
            f"缺少参数 {names[0]}（代码系统的规范 URL）",
            names[0],
        )
    return service.code_system(unit, url, p.one("version") or version, day)


def value_set(unit: Unit, p: Params, id: str | None, day: date | None) -> dict[str, Any]:
    """The ValueSet resource an operation targets (stored by id, by ``url``, implicit, or inline)."""
    if id is not None:
        return service.by_id(unit, "ValueSet", id).resource
    res = inline(p, "valueSet", "ValueSet")
    if res is not None:
        return res
    url = p.one("url")
    if url is None:
        raise FhirError.bad_request(
            "parameter 'url' or 'valueSet' is required", "缺少参数 url 或 valueSet（值集）", "url"
        )
    if p.one("context") is not None:
        raise FhirError.not_supported("parameter 'context' is not supported")
    return service.value_set(unit, url, p.one("valueSetVersion"), day)
