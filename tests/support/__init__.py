"""Shared test helpers: signed CDS Hooks client tokens (``tokens``) and minimal FHIR resources (``fhir``).

The synthetic patients themselves come from the project's one patient builder,
cds_service/devtools/patients.py.
"""
