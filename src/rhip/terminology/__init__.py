"""Terminology service (术语注册服务, WS/T 790.9): code systems, value sets and concept maps.

Bundled: ICD-10 with Chinese titles and national-edition extension codes, GB/T 2260 divisions with
historical codes, national value domains (``data/README.md``); plus CodeSystem, ValueSet and ConceptMap
resources stored in the repository. Operations (FHIR R4 terminology-service.html) take a ``Unit`` and
``Params`` and return a FHIR resource; ``rhip.fhir.operations`` exposes them over REST.
"""

from __future__ import annotations

from rhip.canonical import CANONICAL
from rhip.terminology.divisions import URL as DIVISIONS
from rhip.terminology.expansion import expand, preload
from rhip.terminology.icd10 import URL as ICD10
from rhip.terminology.lookup import lookup, subsumes
from rhip.terminology.params import Params
from rhip.terminology.params import read as read_params
from rhip.terminology.translation import translate
from rhip.terminology.validation import validate_in_code_system, validate_in_value_set

__all__ = [
    "CANONICAL",
    "DIVISIONS",
    "ICD10",
    "Params",
    "expand",
    "lookup",
    "preload",
    "read_params",
    "subsumes",
    "translate",
    "validate_in_code_system",
    "validate_in_value_set",
]
