"""tidings: Zadig-compatible workflow notifications that are retried, signed and never lost."""

__version__ = "0.1.0"
