"""Thin Kopf glue: the only package that imports kopf. Handlers call domain functions and write status."""
