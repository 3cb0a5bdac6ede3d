"""FHIR R4 (4.0.1): definitions, validation, search, bundles and operations."""
