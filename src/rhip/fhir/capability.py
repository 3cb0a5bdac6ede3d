"""The CapabilityStatement at ``/metadata``, generated from what is actually implemented."""

from __future__ import annotations

from typing import Any

from rhip import __version__
from rhip.fhir.model import resource_types
from rhip.fhir.operations.registry import operations
from rhip.fhir.search.params import registry
from rhip.profiles import profiles

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]


def capability_statement(base_url: str, token_url: str) -> dict[str, Any]:
    reg = registry()
    china = profiles().by_type
    resources = []
    for rtype in sorted(resource_types()):
        params = [
            {"name": p.code, "definition": p.url, "type": p.type}
            for code, p in sorted(reg.for_type(rtype).items())
            if p.type != "special" or code == "near"
        ]
        params += [
            {"name": "_id", "type": "token"},
            {"name": "_lastUpdated", "type": "date"},
            {"name": "_text", "type": "string"},
            {"name": "_content", "type": "string"},
            {"name": "_has", "type": "special"},
        ]
        ops = [
            {
                "name": op.code,
                "definition": "http://hl7.org/fhir/OperationDefinition/"
                f"{rtype if '*' not in op.types else 'Resource'}-{op.code}",
            }
            for op in operations()
            if "*" in op.types or rtype in op.types
        ]
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "logical"],
            "searchInclude": [
                "*",
                *sorted({f"{rtype}:{c}" for c, p in reg.for_type(rtype).items() if p.type == "reference"}),
            ],
            "searchRevInclude": ["*"],
            "searchParam": params,
        }
        if ops:
            entry["operation"] = ops
        profile = china.get(rtype)
        if profile is not None:
            entry["supportedProfile"] = [profile.url]  # enforced on every write (decision 0012)
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-24",
        "publisher": "rhip",
        "kind": "instance",
        "software": {"name": "rhip 区域全民健康信息平台", "version": __version__},
        "implementation": {"description": "rhip regional health information platform node", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "OAuth2 bearer tokens (client_credentials, password)",
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                },
                "resource": resources,
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                    {"code": "search-system"},
                ],
                "searchParam": [
                    {"name": "_type", "type": "token"},
                    {"name": "_id", "type": "token"},
                    {"name": "_lastUpdated", "type": "date"},
                ],
            }
        ],
    }
