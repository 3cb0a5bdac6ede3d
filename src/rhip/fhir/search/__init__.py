"""FHIR search: parameter registry, value extraction and normalisation, query parsing and assembly."""
