"""The web layer: HTTP adapters over the framework-independent FHIR handlers (only place that knows Starlette)."""
