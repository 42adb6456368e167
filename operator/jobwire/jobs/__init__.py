"""Jobs: from an event to a Job manifest and back to the producer's status, without I/O.

- `naming`: the Job's name, derived from (producer, event id) — the idempotency key of every run.
- `render`: the Job manifest (labels, owner, env, parameters, the event inline or in a ConfigMap).
- `policy`: what the concurrency policy says about a new event while Jobs run.
- `history`: status arithmetic when a Job starts, finishes or is skipped, and which old Jobs to delete.

Creating, watching and deleting Jobs is I/O and lives elsewhere; everything here is a pure function.
"""

from __future__ import annotations

__all__: list[str] = []
