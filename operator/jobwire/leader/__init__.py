"""Several replicas, one leader: a coordination.k8s.io Lease says who acts on time and state.

Every replica watches every kind and serves webhooks; only the leader runs the engines that act on their own —
Schedule ticks, Sensor polls, Automations, the Job tracker. `lease` elects, `gate` turns the engines on and off
(docs/high-availability.md).
"""
