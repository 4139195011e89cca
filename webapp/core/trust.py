"""Who submitted a link, as the network policy sees them (`Submission.trust`).

Decided when the link arrives and kept with it, so the worker judges each job by who sent it,
not by who runs it: an admin's links may reach private addresses, a user's only when the admin
allows it, a guest's only when their invite does (webapp/core/url_policy.py).
"""
ADMIN_TRUST, USER_TRUST, GUEST_TRUST = "admin", "user", "guest"
TRUSTS = (ADMIN_TRUST, USER_TRUST, GUEST_TRUST)
