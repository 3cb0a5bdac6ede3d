"""FHIR operations, one module each; ``registry`` lists them and feeds the CapabilityStatement."""
