"""Guest routes (being built)."""
from webapp.guest import bp


@bp.get("/i/<token>")
def invite_page(token):
    return "", 404
