"""Development tools, never on the request path: the local CDS Hooks sandbox, loading the fixture patients
into a FHIR server, synthetic traffic for the concordance report, and the synthetic patient builder."""

BUNDLE_TIMEOUT_SECONDS = 30.0
"""How long a FHIR server may take over one fixture bundle (the sandbox, ``cds-service fixtures load``)."""
