"""A local Stitch look-alike for tests and demos (see docs/sandbox-dom.md).

Import-light on purpose: the servers live in `connector.sandbox.server` (uvicorn is imported there).
"""
