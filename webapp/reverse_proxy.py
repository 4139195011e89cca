"""Haul behind a reverse proxy (nginx, Caddy, Traefik) that terminates TLS.

Two things change there:

* **Who is asking, and at which address.** The proxy connects from its own address, over plain
  HTTP, often with a Host of its own choosing; the visitor's address, scheme and host arrive in
  X-Forwarded-For/-Proto/-Host/-Port. With `HAUL_TRUSTED_PROXIES=N` the last N hops of those
  headers are believed (werkzeug's ProxyFix), so invite links, their QR codes and the
  bookmarklet say `https://haul.example.com`, Flask-WTF applies its HTTPS referrer check,
  and the sign-in rate limit counts each visitor, not the proxy. With 0 (the default) the
  headers are ignored, since anyone could send them. gunicorn's own trust of such headers from
  127.0.0.1 is switched off (webapp/gunicorn_conf.py): this setting is the one switch.
* **Cookies.** Over HTTPS the session and "keep me signed in" cookies are marked Secure, so a
  browser never sends them over plain HTTP (an http:// bookmark before the proxy's redirect);
  over plain HTTP on a LAN they still work.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix


def install(app: Flask, trusted_proxies: int) -> None:
    """Believe `trusted_proxies` hops of X-Forwarded-* headers, and mark cookies Secure over HTTPS.

    Call before Flask-Login is set up: its remember cookie is written by an after-request hook,
    and hooks run in the reverse order of registration, so ours must come first to run last."""
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies,
                                x_host=trusted_proxies, x_port=trusted_proxies)
    app.session_interface = _SessionCookieSecureOverHttps()
    app.after_request(_remember_cookie_secure_over_https)


class _SessionCookieSecureOverHttps(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with Secure set whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def _remember_cookie_secure_over_https(response):
    """Flask-Login reads REMEMBER_COOKIE_SECURE once from the config; add Secure per request."""
    if not request.is_secure:
        return response
    name = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    cookies = response.headers.getlist("Set-Cookie")
    if not any(_lacks_secure(cookie, name) for cookie in cookies):
        return response
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        response.headers.add("Set-Cookie", cookie + "; Secure" if _lacks_secure(cookie, name) else cookie)
    return response


def _lacks_secure(cookie: str, name: str) -> bool:
    """Whether this Set-Cookie value sets the cookie `name` without the Secure attribute."""
    cookie_name, _, rest = cookie.partition("=")
    attributes = {part.strip().split("=", 1)[0].lower() for part in rest.split(";")[1:]}
    return cookie_name.strip() == name and "secure" not in attributes
