"""Controllers: the I/O side of each kind, between Kopf's handlers and the pure logic."""
