"""Benchmarks for hex-mcp: tokens, latency, cold start, upstream calls and cache (see bench/README.md)."""
