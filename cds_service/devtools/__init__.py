"""Development tools, never on the request path: the local CDS Hooks sandbox, loading the fixture patients
into a FHIR server, synthetic traffic for the concordance report, and the synthetic patient builder."""
