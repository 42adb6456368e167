"""Time as the operator sees it: an injectable clock, and one ticker that wakes every timed thing."""
