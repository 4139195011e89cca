"""Notifications: the targets people add (Apprise URLs, JSON webhooks), the outbox every event
writes in its own transaction, and the sending the worker does after the commit."""
