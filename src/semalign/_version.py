"""The package version, on the ground floor so that any layer can read it without importing the
``semalign`` facade (which loads :mod:`semalign.align` on attribute access)."""

__version__ = "0.1.0"
