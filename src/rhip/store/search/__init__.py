"""SQL assembly and execution of parsed FHIR searches."""
