"""CDS Hooks 2.0 service: second-line systemic therapy sequencing for advanced hepatocellular carcinoma."""

__version__ = "0.1.0"
