"""Approvals: writes an approval rule holds wait here for a second person.

models.py (the request and its states), store.py (SQLite, beside the jobs it holds), desk.py (the
App's operations: hold, list, decide, expire, carry out), notify.py (the signed webhook).
"""
