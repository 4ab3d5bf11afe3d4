"""One file per schema revision, applied in order by ``cds-service db upgrade``."""
