"""Browser tests: a live Haul driven by Playwright and Debian's Chromium (see conftest.py)."""
