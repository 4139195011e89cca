"""Haul's version, stated once: /health/detailed reports it (and the OpenAPI document could).

Haul has no packaged releases; the number follows the issues that shaped it (0.16: operations —
notifications, the dashboard, logs, backups, download windows). Raise it with each release.
"""
VERSION = "0.16.0"
