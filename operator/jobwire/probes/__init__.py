"""The probe and metrics HTTP server."""
