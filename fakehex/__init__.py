"""A fake Hex upstream for tests, evals, benchmarks and the conformance run: a real HTTP server on loopback.

`fakehex.upstream.FakeUpstream` serves hex.pm's JSON API (`/api`) and the gateway's shapes (`/hex-api`) from the
recorded-style documents in `fakehex/fixtures/`, with switches for every fault the server must survive.
`fakehex.registry_files` builds signed Registry v2 files and `fakehex.tarballs` release tarballs. Not shipped in
the wheel.
"""
