"""The concordance report: what clinicians did with the advice, read from the feedback store.

Imports only the store (and the standard library, SQLAlchemy, matplotlib for the charts): never the api,
hooks or card layers. Definitions: docs/concordance-report.md.
"""
