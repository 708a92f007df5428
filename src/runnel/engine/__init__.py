"""The engine: one lifecycle of decisions (``steps``) and two thin drivers (sync, async)."""
