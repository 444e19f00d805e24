"""The offboarding queue, a core module: jobs in SQLite, the one worker that carries them out,
callbacks from a durable outbox, and one submit-and-wait for every entry point (the HTTP API,
SCIM and the Python API). No web framework is imported here.

Not named `connector.offboard`: that is the public function `connector.offboard()`, and a
subpackage of that name would replace it on the package as soon as anything imported it.
"""
