"""Jobwire: a Kubernetes operator that turns events into Jobs."""
