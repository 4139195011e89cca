"""Haul's rules, as plain functions with no request globals, grouped by subject: queue,
library, guests, accounts and admin (each package's docstring says what it owns).

Services import models, the foundation (config, extensions, errors) and webapp.core, and each
other; never a blueprint and never `jobs` (they reach the workers through
queue.dispatch.WorkerQueue). tests/test_import_contract.py holds them to it.
"""
