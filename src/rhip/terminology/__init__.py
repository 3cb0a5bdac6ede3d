"""Terminology service (术语注册服务, WS/T 790.9): code systems, value sets and concept maps.

Bundled: ICD-10 with Chinese titles and national-edition extension codes, GB/T 2260 divisions with
historical codes, national value domains (``data/README.md``); plus CodeSystem, ValueSet and ConceptMap
resources stored in the repository. Operations (FHIR R4 terminology-service.html) take a ``Unit`` and
``Params`` and return a FHIR resource; ``rhip.fhir.operations`` exposes them over REST.

The service modules (``expansion``, ``lookup``, ``validation``, ``translation``) need the repository and are
imported from their modules; this package itself stays light because the bundled code systems
(``rhip.terminology.bundled``) are also used below the repository, by the write-path profile checks.
"""

from __future__ import annotations

from rhip.canonical import CANONICAL
from rhip.terminology.divisions import URL as DIVISIONS
from rhip.terminology.icd10 import URL as ICD10

__all__ = ["CANONICAL", "DIVISIONS", "ICD10"]
