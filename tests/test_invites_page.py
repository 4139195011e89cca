"""The admin's invites page (/invites) through the Flask test client, CSRF on as in production:
the table and its state badges, the friendly 403, creating (plain form and htmx, refusals
inline), editing, switching on and off, deleting (with its confirmation without JavaScript),
the bulk actions, search, order and pages, the QR code and the details; and the form's parsing
of sizes and local times.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
import segno
from sqlalchemy import select, update
from support.web import csrf, form_post, htmx_post, sign_in_as

from webapp.extensions import db
from webapp.invites.forms import parse_local_time, parse_size, size_text
from webapp.invites.routes import ListView
from webapp.models import Invite
from webapp.models.base import utcnow
from webapp.services.guests import invites


def toasts(response) -> list[str]:
    """The toasts an htmx answer carries (HX-Trigger)."""
    return [toast["message"] for toast in json.loads(response.headers.get("HX-Trigger", "{}")).get("haul:toast", [])]


def make(admin, **fields) -> Invite:
    return invites.create_invite(admin.id, {"name": "Party", **fields})


def set_column(invite, **values):
    db.session.execute(update(Invite).where(Invite.id == invite.id).values(**values))
    db.session.commit()
    db.session.refresh(invite)


def row_html(html: str, invite_id: int) -> str:
    match = re.search(rf'<tr id="invite-{invite_id}".*?</tr>', html, re.S)
    assert match, f"no row for invite {invite_id}"
    return match.group(0)


def new_form(**fields) -> dict:
    """The create form as a browser sends it: the defaults, and these changes (prefix new-)."""
    data = {"new-name": "Party", "new-uses": "unlimited", "new-allow_uploads": "y", "new-allow_urls": "y",
            "new-kinds": ["image", "video"], "new-tz": ""}
    data.update({f"new-{key}": value for key, value in fields.items()})
    return {key: value for key, value in data.items() if value is not None}


def edit_form(invite: Invite, **fields) -> dict:
    """The edit form as the page fills it for `invite`, and these changes (prefix edit-)."""
    uses = "unlimited" if invite.max_uses is None else "once" if invite.max_uses == 1 else "limited"
    data = {"edit-name": invite.name, "edit-post_title": invite.post_title or "", "edit-uses": uses,
            "edit-max_uses": str(invite.max_uses or ""), "edit-kinds": list(invite.kinds), "edit-tz": "UTC",
            "edit-expires_at": invite.expires_at.strftime("%Y-%m-%dT%H:%M") if invite.expires_at else "",
            "edit-max_file": size_text(invite.max_file_bytes), "edit-max_total": size_text(invite.max_total_bytes)}
    for flag in ("allow_uploads", "allow_urls", "allow_private_urls", "enabled"):
        if getattr(invite, flag):
            data[f"edit-{flag}"] = "y"
    data.update({f"edit-{key}": value for key, value in fields.items()})
    return {key: value for key, value in data.items() if value is not None}


# -- who may open it ---------------------------------------------------------------------------------


def test_a_user_gets_the_friendly_403_everywhere(client, admin, alice):
    invite = make(admin)
    sign_in_as(client, alice)
    page = client.get("/invites")
    assert page.status_code == 403
    assert "Only an admin can open this page" in page.get_data(as_text=True)
    token = csrf(client)
    for method, path in [("get", f"/invites/{invite.id}"), ("get", f"/invites/{invite.id}/qr"),
                         ("get", f"/invites/{invite.id}/qr.svg"), ("get", f"/invites/{invite.id}/edit"),
                         ("post", "/invites"), ("post", f"/invites/{invite.id}"),
                         ("post", f"/invites/{invite.id}/enabled"), ("post", f"/invites/{invite.id}/delete"),
                         ("post", "/invites/bulk")]:
        kwargs = {"data": {"csrf_token": token, "new-name": "Mine", "ids": [str(invite.id)], "action": "delete",
                           "confirmed": "1", "enabled": "0"}} if method == "post" else {}
        assert getattr(client, method)(path, **kwargs).status_code == 403, path
    db.session.expire_all()
    assert [(i.name, i.enabled) for i in db.session.scalars(select(Invite))] == [("Party", True)]


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/invites")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_nav_shows_invites_to_admins_only(client, admin, alice):
    sign_in_as(client, alice)
    assert 'href="/invites"' not in client.get("/").get_data(as_text=True)
    sign_in_as(client, admin)
    assert 'href="/invites"' in client.get("/").get_data(as_text=True)


# -- the table ----------------------------------------------------------------------------------------


def test_the_admin_sees_every_link_with_its_state_uses_and_actions(admin_client, admin):
    active = make(admin, name="Active one", max_uses=5, post_title="Summer")
    off = make(admin, name="Switched off", enabled=False)
    expired = make(admin, name="Expired one", expires_at=utcnow() + timedelta(hours=1))
    set_column(expired, expires_at=utcnow() - timedelta(minutes=1))
    used = make(admin, name="Used up", max_uses=1)
    set_column(used, uses=1, last_used_at=utcnow())
    page = admin_client.get("/invites")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "4 invite links" in html
    expected = {active.id: ("Active", "0 / 5"), off.id: ("Disabled", "unlimited"),
                expired.id: ("Expired", "unlimited"), used.id: ("Used up", "1 / 1")}
    for invite_id, (label, uses) in expected.items():
        row = row_html(html, invite_id)
        assert re.search(rf'class="chip invite-state state-\w+">{label}</span>', row), row
        assert uses in row
        invite = db.session.get(Invite, invite_id)
        assert f'data-copy-link="http://localhost/i/{invites.token_for(invite)}"' in row
        assert f'name="ids" value="{invite_id}" form="invite-bulk"' in row
        for action in ("qr", "details", "edit", "toggle", "delete"):
            assert f'id="invite-{invite_id}-{action}"' in row
    assert "Into “Summer”" in row_html(html, active.id)
    assert ">Enable</button>" in row_html(html, off.id) and ">Disable</button>" in row_html(html, active.id)
    assert "data-new" not in html
    # Every form on the page carries the CSRF token.
    forms = re.findall(r'<form method="post".*?</form>', html, re.S)
    assert forms and all(re.search(r'name="(new-)?csrf_token"', form) for form in forms)


def test_an_empty_page_opens_the_create_form(admin_client):
    html = admin_client.get("/invites").get_data(as_text=True)
    assert "No invite links yet" in html
    assert re.search(r'<details class="card invite-create" id="invite-create" open>', html)


def test_search_sort_and_pages(admin_client, admin):
    for number in range(55):
        make(admin, name=f"Link {number:02d}", post_title="Holiday" if number % 10 == 0 else None)
    html = admin_client.get("/invites").get_data(as_text=True)
    assert "55 invite links · page 1 of 2" in html and html.count('class="invite-row') == 50
    assert 'href="/invites?page=2"' in html

    htmx = {"HX-Request": "true"}
    partial = admin_client.get("/invites?q=holiday", headers=htmx).get_data(as_text=True)
    assert partial.lstrip().startswith("<section id=\"invite-list\"")  # the list alone for htmx
    assert partial.count('class="invite-row') == 6 and "matching “holiday”" in partial

    by_name = admin_client.get("/invites?sort=name&order=asc&page=2", headers=htmx).get_data(as_text=True)
    names = re.findall(r'class="break invite-name"[^>]*>([^<]+)<', by_name)
    assert names == [f"Link {n:02d}" for n in range(50, 55)]
    assert 'aria-sort="ascending"' in by_name
    # A heading sorted by already turns the order around.
    assert 'href="/invites?sort=name&amp;order=desc"' in by_name

    # Nonsense in the URL falls back to the defaults, never an error.
    assert admin_client.get("/invites?sort=password&order=up&page=-3").status_code == 200
    assert admin_client.get("/invites?page=99").status_code == 200  # past the end: the last page


# -- creating --------------------------------------------------------------------------------------------


def test_create_with_a_plain_form_redirects_to_the_highlighted_link(admin_client, admin):
    # As the browser sends the form without JavaScript: the token under the form's own (prefixed) name.
    response = admin_client.post("/invites", data={"new-csrf_token": csrf(admin_client), **new_form(
                                                        name="Summer party", post_title="Summer 2026",
                                                        uses="limited", max_uses="5", password="lemonade",
                                                        max_file="500 MB", max_total="2 GB",
                                                        kinds=["image", "audio"], allow_private_urls="y")})
    assert response.status_code == 302
    invite = db.session.scalars(select(Invite)).one()
    assert response.headers["Location"] == f"/invites?new={invite.id}#invite-{invite.id}"
    assert (invite.name, invite.post_title, invite.max_uses, invite.created_by) == ("Summer party", "Summer 2026", 5, admin.id)
    assert (invite.max_file_bytes, invite.max_total_bytes) == (500 * 1024**2, 2 * 1024**3)
    assert invite.kinds == ("image", "audio") and invite.allow_private_urls is True and invite.expires_at is None
    assert invite.password_hash and "lemonade" not in invite.password_hash
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    row = row_html(page, invite.id)
    assert "is-new" in row and "data-new" in row
    assert "Created the invite link “Summer party”." in page  # the notice


def test_create_without_the_csrf_token_is_refused(admin_client):
    response = admin_client.post("/invites", data=new_form(name="Forged"))
    assert response.status_code == 400
    assert db.session.scalars(select(Invite)).all() == []


def test_create_with_htmx_answers_the_list_with_the_new_link_first(admin_client, admin):
    make(admin, name="Older")
    response = htmx_post(admin_client, "/invites?q=older", new_form(name="Fresh", uses="once"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="invites">')
    fresh = db.session.scalars(select(Invite).where(Invite.name == "Fresh")).one()
    assert fresh.max_uses == 1
    names = re.findall(r'class="break invite-name"[^>]*>([^<]+)<', html)
    assert names == ["Fresh", "Older"]  # the default view (search cleared), newest first
    assert 'class="chip state-new">New<' in row_html(html, fresh.id)
    assert response.headers["HX-Replace-Url"] == "/invites"
    assert toasts(response) == ["Created the invite link “Fresh”."]
    # The create form comes back empty, folded away.
    assert 'value="Fresh"' not in html
    assert '<details class="card invite-create" id="invite-create" >' in html


@pytest.mark.parametrize("fields, field, message", [
    ({"name": ""}, "new-name", "Give the invite a name"),
    ({"name": "x" * 101}, "new-name", "Field cannot be longer than 100 characters"),
    ({"uses": "limited", "max_uses": ""}, "new-max_uses", "Enter how many times"),
    ({"uses": "limited", "max_uses": "0"}, "new-max_uses", "Enter how many times"),
    ({"max_file": "lots"}, "new-max_file", "Write a size such as 500 MB or 2 GB"),
    ({"max_total": "0"}, "new-max_total", "at least 1 byte"),
    ({"expires_at": "soon"}, "new-expires_at", "Pick a date and time"),
    ({"expires_at": "2001-01-01T10:00"}, "new-expires_at", "expires_at is in the past"),
    ({"kinds": None}, "new-kinds", "Pick at least one kind of file"),
    ({"allow_uploads": None, "allow_urls": None}, "new-allow_uploads", "Let guests upload files, send links, or both"),
    ({"password": "abc"}, "new-password", "at least 4 characters"),
])
def test_a_refused_create_shows_the_message_next_to_its_field(admin_client, fields, field, message):
    response = form_post(admin_client, "/invites", new_form(**fields))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<h1>Invite links</h1>" in html  # the whole page without htmx
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html) or re.search(r'class="field-error"[^>]*>([^<]*)<', html)
    assert error and message in unescape(error.group(1)), html[html.find("field-error") - 300:html.find("field-error") + 300]
    assert db.session.scalars(select(Invite)).all() == []
    # With htmx: the same refusal in the partial, and a toast.
    response = htmx_post(admin_client, "/invites", new_form(**fields))
    assert response.status_code == 422 and toasts(response) == ["Invite not created: check the form."]
    assert message in unescape(response.get_data(as_text=True))
    # The focus lands on the refused field (for a group of boxes, its first one).
    assert autofocused(response.get_data(as_text=True)) == [field + ("-0" if field == "new-kinds" else "")]
    assert re.search(r'<details class="card invite-create" id="invite-create" open>', response.get_data(as_text=True))


def test_the_expiry_is_read_in_the_browsers_time_zone(admin_client):
    form_post(admin_client, "/invites", new_form(name="Berlin", expires_at="2099-06-01T12:00", tz="Europe/Berlin"))
    form_post(admin_client, "/invites", new_form(name="Nowhere", expires_at="2099-06-01T12:00", tz="Mars/Olympus"))
    stored = {i.name: i.expires_at for i in db.session.scalars(select(Invite))}
    assert stored["Berlin"] == datetime(2099, 6, 1, 10, 0, tzinfo=timezone.utc)  # CEST is UTC+2
    assert stored["Nowhere"] == datetime(2099, 6, 1, 12, 0, tzinfo=timezone.utc)  # unknown zone: UTC


# -- editing ---------------------------------------------------------------------------------------------


def test_the_edit_form_is_filled_with_the_invites_values(admin_client, admin):
    invite = make(admin, name="Band", max_uses=20, max_file_bytes=500 * 1024**2, max_total_bytes=1500,
                  expires_at="2099-01-02T03:04:05Z", password="drums-drums", allowed_kinds=["video"])
    html = admin_client.get(f"/invites/{invite.id}/edit", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<div class="invite-edit"')
    assert 'value="Band"' in html and 'value="20"' in html and 'value="500 MB"' in html and 'value="1500 B"' in html
    assert 'value="2099-01-02T03:04"' in html and 'name="edit-tz" type="hidden" value="UTC"' in html
    assert re.search(r'<input checked id="edit-uses-1" name="edit-uses" type="radio" value="limited">', html)
    assert "Remove the password" in html and "drums" not in html
    assert re.search(r'<input checked id="edit-kinds-1" name="edit-kinds" type="checkbox" value="video">', html)
    assert admin_client.get(f"/invites/{invite.id}/edit").status_code == 200  # a page of its own without htmx


def test_saving_with_htmx_swaps_the_list_and_closes_the_dialog(admin_client, admin):
    invite = make(admin, name="Band", max_uses=20, password="drums-drums", max_file_bytes=1500)
    response = htmx_post(admin_client, f"/invites/{invite.id}",
                         edit_form(invite, name="Band videos", uses="unlimited", max_total="1 GB"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#invite-list" and response.headers["HX-Reswap"] == "outerHTML"
    assert json.loads(response.headers["HX-Trigger"])["invites:saved"] == {"id": invite.id}
    assert toasts(response) == ["Saved “Band videos”."]
    assert "is-changed" in row_html(response.get_data(as_text=True), invite.id)
    db.session.expire_all()
    saved = db.session.get(Invite, invite.id)
    assert (saved.name, saved.max_uses, saved.max_total_bytes, saved.max_file_bytes) == ("Band videos", None, 1024**3, 1500)
    assert saved.password_hash is not None  # an empty password field keeps it

    form_post(admin_client, f"/invites/{invite.id}", edit_form(saved, remove_password="y"))
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).password_hash is None


def test_saving_with_a_plain_form_redirects_back(admin_client, admin):
    invite = make(admin)
    response = form_post(admin_client, f"/invites/{invite.id}", edit_form(invite, name="Renamed", enabled=None))
    assert response.status_code == 302 and response.headers["Location"] == f"/invites#invite-{invite.id}"
    db.session.expire_all()
    assert (db.session.get(Invite, invite.id).name, db.session.get(Invite, invite.id).enabled) == ("Renamed", False)


def test_an_expired_link_can_be_edited_without_touching_its_expiry(admin_client, admin):
    """The form shows the expiry to the minute; sending it back unchanged is not "a time in the past"."""
    invite = make(admin, expires_at=utcnow() + timedelta(hours=1))
    set_column(invite, expires_at=utcnow() - timedelta(hours=2, seconds=17))
    before = invite.expires_at
    response = htmx_post(admin_client, f"/invites/{invite.id}", edit_form(invite, name="Still expired"))
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(Invite, invite.id)
    assert saved.name == "Still expired" and saved.expires_at == before
    # Moving it to another past minute is refused inline, in the dialog's form.
    response = htmx_post(admin_client, f"/invites/{invite.id}",
                         edit_form(saved, expires_at=(before - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")))
    assert response.status_code == 422 and "HX-Retarget" not in response.headers
    html = unescape(response.get_data(as_text=True))
    assert html.lstrip().startswith('<div class="invite-edit"') and "expires_at is in the past" in html


def autofocused(html: str) -> list[str]:
    """The ids of the inputs that take the focus when the form comes in."""
    return re.findall(r'<input (?=[^>]*\bautofocus\b)[^>]*\bid="([^"]+)"', html)


def test_the_edit_dialog_focuses_the_name_then_the_field_a_save_refused(admin_client, admin):
    invite = make(admin, name="Band")
    html = admin_client.get(f"/invites/{invite.id}/edit", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert autofocused(html) == ["edit-name"]
    # After a refusal the focus stays with the field to fix: the admin's next keys go there.
    response = htmx_post(admin_client, f"/invites/{invite.id}", edit_form(invite, max_file="lots"))
    assert response.status_code == 422
    assert autofocused(response.get_data(as_text=True)) == ["edit-max_file"]
    # Several refused: the first of them, in the form's order.
    response = htmx_post(admin_client, f"/invites/{invite.id}", edit_form(invite, max_total="0", expires_at="soon"))
    html = unescape(response.get_data(as_text=True))
    assert "Pick a date and time" in html and "at least 1 byte" in html
    assert autofocused(html) == ["edit-expires_at"]


def test_a_refused_edit_changes_nothing(admin_client, admin):
    invite = make(admin, name="Keep me")

    def stored():
        return db.session.execute(select(Invite.__table__).where(Invite.id == invite.id)).one()

    before = stored()
    response = htmx_post(admin_client, f"/invites/{invite.id}",
                         edit_form(invite, name="", max_file="huge", post_title="Changed", uses="once"))
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert "Give the invite a name" in html or "Write a size" in html
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).name == "Keep me"
    assert stored() == before


def test_unknown_invites_are_the_friendly_404(admin_client):
    assert admin_client.get("/invites/999/edit").status_code == 404
    assert form_post(admin_client, "/invites/999/enabled", {"enabled": "0"}).status_code == 404
    assert admin_client.get(f"/invites/{2**64}").status_code == 404


# -- switching, deleting, several at once -------------------------------------------------------------------


def test_switching_a_link_off_and_on_with_htmx(admin_client, admin):
    invite = make(admin, name="Toggle")
    response = htmx_post(admin_client, f"/invites/{invite.id}/enabled", {"enabled": "0", "q": "tog"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="invite-list"') and "matching “tog”" in html  # the view is kept
    assert ">Disabled</span>" in row_html(html, invite.id)
    assert toasts(response) == ["“Toggle” is off."]
    response = form_post(admin_client, f"/invites/{invite.id}/enabled", {"enabled": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).enabled is True


def test_deleting_one_link(admin_client, admin):
    invite, other = make(admin, name="Gone"), make(admin, name="Stays")
    # Without JavaScript: a confirmation page first, then the delete.
    confirm = form_post(admin_client, f"/invites/{invite.id}/delete")
    assert confirm.status_code == 200 and "Delete this invite link?" in confirm.get_data(as_text=True)
    assert db.session.get(Invite, invite.id) is not None
    done = form_post(admin_client, "/invites/bulk", {"action": "delete", "ids": [str(invite.id)], "confirmed": "1"})
    assert done.status_code == 302
    db.session.expire_all()
    assert [i.name for i in db.session.scalars(select(Invite))] == ["Stays"]
    # With htmx (the browser asked already): the list without it.
    response = htmx_post(admin_client, f"/invites/{other.id}/delete")
    assert response.status_code == 200 and "No invite links yet" in response.get_data(as_text=True)
    assert db.session.scalars(select(Invite)).all() == []


def test_bulk_actions_with_htmx(admin_client, admin):
    a, b, c = make(admin, name="A"), make(admin, name="B"), make(admin, name="C")
    ids = [str(a.id), str(b.id)]
    response = htmx_post(admin_client, "/invites/bulk", {"action": "disable", "ids": ids})
    assert response.status_code == 200 and toasts(response) == ["Switched 2 invite links off."]
    html = response.get_data(as_text=True)
    assert ">Disabled</span>" in row_html(html, a.id) and ">Active</span>" in row_html(html, c.id)
    response = htmx_post(admin_client, "/invites/bulk", {"action": "disable", "ids": ids})
    assert toasts(response) == ["The invite links were already off."]
    response = htmx_post(admin_client, "/invites/bulk", {"action": "enable", "ids": [str(a.id)]})
    assert toasts(response) == ["Switched 1 invite link on."]
    response = htmx_post(admin_client, "/invites/bulk", {"action": "delete", "ids": ids + ["999", "x"]})
    assert response.status_code == 200
    assert toasts(response) == ["Deleted 2 invite links. What guests sent stays in the library."]
    db.session.expire_all()
    assert [i.name for i in db.session.scalars(select(Invite))] == ["C"]


@pytest.mark.parametrize("data, message", [
    ({"action": "delete"}, "Tick at least one invite link first."),
    ({"action": "delete", "ids": ["999999"]}, "Tick at least one invite link first."),
    ({"action": "explode", "ids": ["1"]}, "Choose enable, disable or delete."),
])
def test_bulk_refusals_are_422_with_a_toast(admin_client, admin, data, message):
    make(admin)
    response = htmx_post(admin_client, "/invites/bulk", data)
    assert response.status_code == 422 and toasts(response) == [message]
    assert response.get_data(as_text=True).lstrip().startswith('<section id="invite-list"')
    assert len(db.session.scalars(select(Invite)).all()) == 1


def test_bulk_without_the_csrf_token_is_refused(admin_client, admin):
    invite = make(admin)
    response = admin_client.post("/invites/bulk", data={"action": "delete", "ids": [str(invite.id)]},
                             headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert db.session.get(Invite, invite.id) is not None


def test_bulk_delete_without_javascript_asks_first(admin_client, admin):
    a, b = make(admin, name="First"), make(admin, name="Second")
    page = form_post(admin_client, "/invites/bulk", {"action": "delete", "ids": [str(a.id), str(b.id)]})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Delete 2 invite links?" in html and "First" in html and "Second" in html
    assert len(db.session.scalars(select(Invite)).all()) == 2


# -- the QR code and the details ------------------------------------------------------------------------------


def test_the_qr_code_is_an_svg_of_the_link(admin_client, admin):
    invite = make(admin, name="Party")
    link = f"http://localhost/i/{invites.token_for(invite)}"
    html = admin_client.get(f"/invites/{invite.id}/qr", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<div class="invite-qr"')
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    ElementTree.fromstring(svg)  # well-formed
    assert 'class="qr-code"' in svg and f'value="{link}"' in html
    expected = segno.make(link, error="m").svg_inline(scale=4, border=4, omitsize=True, svgclass="qr-code", dark="#000",
                                                      light="#fff", title="QR code of the invite link Party")
    assert svg == expected  # the code encodes exactly the link

    download = admin_client.get(f"/invites/{invite.id}/qr.svg")
    assert download.status_code == 200 and download.mimetype == "image/svg+xml"
    assert download.headers["Cache-Control"] == "no-store"
    assert "attachment" in download.headers["Content-Disposition"]
    root = ElementTree.fromstring(download.get_data())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"  # a file any viewer opens
    assert admin_client.get(f"/invites/{invite.id}/qr").status_code == 200  # a page without htmx


def test_the_details_show_what_came_through_the_link(admin_client, admin):
    invite = make(admin, name="Party", max_uses=3, max_file_bytes=1024**2, password="secret-word")
    guest = invites.open_session(invite, None)
    invites.count_use(guest)
    db.session.commit()
    html = unescape(admin_client.get(f"/invites/{invite.id}", headers={"HX-Request": "true"}).get_data(as_text=True))
    for text in ("Details · Party", "1 of 3", f"by {admin.username}", "1.0 MB", "No limit", "Images, Videos", "Not allowed",
                 "Upload files and send links", ">Active<"):
        assert text in html, text
    assert "secret-word" not in html
    assert re.search(r"<dt>Password</dt><dd>Set</dd>", html)


# -- the form's parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [("", None), ("  ", None), ("500 MB", 500 * 1024**2), ("2gb", 2 * 1024**3),
                                        ("1.5 GB", 1536 * 1024**2), ("1,5 GB", 1536 * 1024**2), ("10", 10 * 1024**2),
                                        ("1500 B", 1500), ("4 KiB", 4096), ("1 TB", 1024**4)])
def test_sizes_are_read_as_people_write_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-5 MB", "5 parsecs", "0", "0.0000001 B", "1e9"])
def test_unreadable_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("size", [None, 1, 1500, 1024, 500 * 1024**2, 3 * 1024**3, 2 * 1024**4, 1024**3 + 1])
def test_sizes_are_shown_exactly_and_read_back_the_same(size):
    assert parse_size(size_text(size)) == size


def test_local_times_and_list_urls():
    assert parse_local_time("2099-12-31T23:30", "America/New_York") == datetime(2100, 1, 1, 4, 30, tzinfo=timezone.utc)
    assert parse_local_time("2099-12-31T23:30:15", None) == datetime(2099, 12, 31, 23, 30, 15, tzinfo=timezone.utc)
    assert parse_local_time("", "UTC") is None
    with pytest.raises(ValueError):
        parse_local_time("31/12/2099", "UTC")
    view = ListView.from_values({"q": "  summer   party ", "sort": "uses", "order": "desc", "page": "3"})
    assert view.args() == {"q": "summer party", "sort": "uses", "page": 3}  # desc is the default for uses
    assert view.sorted_by("uses") == {"q": "summer party", "sort": "uses", "order": "asc"}
    assert view.sorted_by("name") == {"q": "summer party", "sort": "name"}
    assert ListView.from_values({"sort": "x", "order": "y", "page": "zero"}) == ListView()


def test_a_name_with_markup_is_shown_as_text_everywhere(admin_client, admin):
    """Names are the admin's, but they end up in attributes (confirm texts, labels) and in the
    QR code's SVG title: each is escaped."""
    invite = make(admin, name='<img src=x onerror="alert(1)">', post_title="</td><script>alert(2)</script>")
    htmx = {"HX-Request": "true"}
    pages = [admin_client.get("/invites"), admin_client.get(f"/invites/{invite.id}", headers=htmx),
             admin_client.get(f"/invites/{invite.id}/qr", headers=htmx), admin_client.get(f"/invites/{invite.id}/edit", headers=htmx),
             admin_client.get(f"/invites/{invite.id}/qr.svg")]
    for response in pages:
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<img src=x" not in text and "<script>alert(2)" not in text, response.request.path
    assert "&lt;img src=x onerror=" in pages[0].get_data(as_text=True)
