"""Developer tooling: the local control plane (`make cluster-up`, `make run`, the test fixture)."""
