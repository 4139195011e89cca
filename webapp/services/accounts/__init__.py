"""Accounts: who is asking (users, passwords, sign-in sessions, personal API tokens), managing
people (roles, resets, removal) and the first run's setup."""
