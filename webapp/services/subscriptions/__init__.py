"""Subscriptions: collections followed on a schedule (runs.py runs them, manage.py keeps them)."""
