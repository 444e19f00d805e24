"""The offboarding service: an HTTP API and a SCIM 2.0 front over the one guarded write path.

jobs.py (the persisted queue) → worker.py (runs through StitchConnector) → api.py / scim.py
(validate, queue, render). FastAPI loads only in api.py and scim.py.
"""
