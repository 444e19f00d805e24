"""The offboarding service, HTTP only: an API and a SCIM 2.0 front over the account's App and its
offboarding queue (connector.offboard_queue), which own every store and every write.

api.py (the app: token check, body limit, error handlers) → routes.py (/v1 and operations) and
scim/ (SCIM by concern), each route a module-level function given the Service (state.py) as a
FastAPI dependency. FastAPI loads only here.
"""
