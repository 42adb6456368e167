"""The `jobwire` command (also `kubectl jobwire`)."""
