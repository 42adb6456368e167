"""The webhook receiver: the HTTP server inside the operator (I/O; the pure request handling is in webhooks/)."""
