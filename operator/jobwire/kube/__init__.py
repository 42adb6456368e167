"""Kubernetes access at the edge: the async client (kubernetes_asyncio) and thin typed calls."""
