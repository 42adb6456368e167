"""Automations: rules over events (pure matching and trigger state here; I/O in controllers/automations)."""
