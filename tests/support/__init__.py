"""Code the tests run on, not tests: the local media site, live stacks, nginx in front of them,
clients of the live API, and the helpers that drive the web pages through the Flask test client."""
