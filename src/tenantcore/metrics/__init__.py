"""Prometheus metrics: what is counted (`registry`), the request middleware, and `/metrics`."""
