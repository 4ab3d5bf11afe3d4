"""Alembic environment and revisions of the feedback store (shipped inside the package)."""
