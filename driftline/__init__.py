"""Driftline drift worker internals: one module per responsibility (see README, Layout)."""

__version__ = "1.0.0"
