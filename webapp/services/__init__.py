"""Plain functions with the rules of Haul; no request globals."""
