"""The invite service (webapp/services/guests/invites.py): the derived link, uses, expiry, switching
off, the rules for every writable field, the admin's list, totals and deleting.

Sessions are opened and counted as the guest pages will (open_session, check_session_open,
count_use), so "a one-time link refuses a second guest" is checked on the real functions.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import GuestSession, Invite, Job, JobFile, Submission, Upload
from webapp.models.base import utcnow
from webapp.models.invite import DUPLICATE, STORED, UPLOAD_FAILED
from webapp.models.job import Outcome
from webapp.services.guests import invites


@pytest.fixture(autouse=True)
def in_request(app):
    """A request to build links in (link_for answers with the request's host)."""
    with app.test_request_context("/", base_url="https://haul.example"):
        yield


def make(admin, **fields):
    return invites.create_invite(admin.id, {"name": "Party", **fields})


def set_column(invite, **values):
    """Write columns directly (past expiry, uses): states the service's rules would not let a caller set."""
    db.session.execute(update(Invite).where(Invite.id == invite.id).values(**values))
    db.session.commit()
    db.session.refresh(invite)


def expected_token(secret: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), b"haul-invite:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- the link ---------------------------------------------------------------------------------------


def test_a_new_invite_has_the_defaults_and_a_link_derived_from_the_secret_key(app, admin):
    invite = make(admin)
    assert (invite.name, invite.post_title, invite.expires_at, invite.max_uses, invite.uses) == ("Party", None, None, None, 0)
    assert (invite.allow_uploads, invite.allow_urls, invite.allow_private_urls, invite.enabled) == (True, True, False, True)
    assert invite.kinds == ("image", "video")
    assert invite.created_by == admin.id and invite.password_hash is None
    assert invite.slug == f"party-{invite.id}"

    token = invites.token_for(invite)
    assert token == expected_token(app.config["SECRET_KEY"], invite.nonce)
    assert len(token) == 43  # 256 bits, URL-safe base64 without padding
    # The table keeps the token's SHA-256, never the token itself.
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = db.session.execute(select(Invite.__table__).where(Invite.id == invite.id)).mappings().one()
    assert token not in {str(value) for value in row.values()}
    assert invites.find_by_token(token).id == invite.id
    assert invites.link_for(invite) == f"https://haul.example/i/{token}"


def test_two_invites_never_share_a_link(admin):
    first, second = make(admin), make(admin)
    assert first.nonce != second.nonce
    assert invites.token_for(first) != invites.token_for(second)


@pytest.mark.parametrize("token", ["", "x" * 101, "not-a-token", None])
def test_an_unknown_or_malformed_token_finds_nothing(admin, token):
    make(admin)
    assert invites.find_by_token(token) is None


def test_a_new_secret_key_changes_every_link_and_the_old_one_stops_working(app, admin):
    invite = make(admin)
    old = invites.token_for(invite)
    app.config["SECRET_KEY"] = "a-rotated-secret"
    new = invites.token_for(invite)
    assert new != old and new == expected_token("a-rotated-secret", invite.nonce)
    assert invites.find_by_token(old) is None  # the stored hash still matches, but the key does not
    assert invites.find_by_token(new) is None  # not until an admin has been shown it…
    invites.sync_token_hashes([invite])
    assert invites.find_by_token(new).id == invite.id  # …then it works
    assert invites.find_by_token(old) is None


def test_sync_writes_nothing_while_the_key_stays(admin):
    invite = make(admin)
    before = invite.token_hash
    invites.sync_token_hashes([invite])
    assert not db.session.dirty and invite.token_hash == before


# -- uses ---------------------------------------------------------------------------------------------


def test_a_one_time_link_refuses_a_second_guest(admin):
    invite = make(admin, max_uses=1)
    first = invites.open_session(invite, None)
    invites.check_session_open(first)
    invites.count_use(first)
    db.session.commit()
    db.session.refresh(invite)
    assert invite.uses == 1 and invite.last_used_at is not None
    assert invites.state_of(invite) == "used_up"

    with pytest.raises(invites.InviteClosed) as closed:
        invites.open_session(invite, None)
    assert (closed.value.status, closed.value.error_code) == (410, "invite_used_up")

    # The guest who used it keeps their session for its 24 hours, and sending more is no new use.
    again = invites.open_session(invite, first.id)
    assert again.id == first.id
    invites.check_session_open(again)
    invites.count_use(again)
    db.session.commit()
    db.session.refresh(invite)
    assert invite.uses == 1


def test_two_guests_racing_for_the_last_use_cannot_both_have_it(admin):
    invite = make(admin, max_uses=2)
    early = invites.open_session(invite, None)
    a = invites.open_session(invite, None)
    b = invites.open_session(invite, None)
    for guest in (early, a):
        invites.count_use(guest)
        db.session.commit()
    with pytest.raises(invites.InviteClosed) as closed:
        invites.count_use(b)
    assert closed.value.error_code == "invite_used_up"
    with pytest.raises(invites.InviteClosed):
        invites.check_session_open(db.session.get(GuestSession, b.id))
    assert db.session.get(Invite, invite.id).uses == 2


def test_unlimited_uses_count_each_guest_that_sends_something(admin):
    invite = make(admin)
    for _ in range(3):
        guest = invites.open_session(invite, None)
        invites.count_use(guest)
        invites.count_use(guest)  # the same guest again: still one use
        db.session.commit()
    idle = invites.open_session(invite, None)  # opened the page, sent nothing: no use
    assert idle.counted_at is None
    db.session.refresh(invite)
    assert invite.uses == 3 and invites.state_of(invite) == "active"
    assert invites.totals([invite.id])[invite.id].sessions == 3


def test_lowering_max_uses_below_the_uses_closes_the_link(admin):
    invite = make(admin, max_uses=5)
    set_column(invite, uses=3)
    invites.update_invite(invite, {"max_uses": 2})
    assert invites.state_of(invite) == "used_up"


# -- expiry and switching off --------------------------------------------------------------------------


def test_an_expired_link_opens_no_session_and_ends_the_open_ones(admin):
    invite = make(admin, expires_at=utcnow() + timedelta(hours=1))
    guest = invites.open_session(invite, None)
    assert invites.state_of(invite) == "active"
    set_column(invite, expires_at=utcnow() - timedelta(seconds=1))
    assert invites.state_of(invite) == "expired"
    with pytest.raises(invites.InviteClosed) as closed:
        invites.open_session(invite, None)
    assert (closed.value.status, closed.value.error_code) == (410, "invite_expired")
    with pytest.raises(invites.InviteClosed):
        invites.check_session_open(guest)
    with pytest.raises(invites.InviteClosed):
        invites.open_session(invite, guest.id)


def test_state_of_reads_the_time_it_is_given(admin):
    invite = make(admin, expires_at=utcnow() + timedelta(hours=1))
    assert invites.state_of(invite, utcnow() + timedelta(hours=2)) == "expired"


def test_a_past_expiry_is_refused_unless_it_is_the_current_one(admin):
    with pytest.raises(Invalid) as refused:
        make(admin, expires_at="2001-01-01T00:00:00Z")
    assert refused.value.error_code == "expires_in_past"
    invite = make(admin, expires_at=utcnow() + timedelta(hours=1))
    past = utcnow() - timedelta(days=1)
    set_column(invite, expires_at=past)
    # A client sending every field back (the same expiry) can still rename an expired link.
    invites.update_invite(invite, {"expires_at": invite.expires_at.isoformat(), "name": "Renamed"})
    assert invite.name == "Renamed"
    with pytest.raises(Invalid):
        invites.update_invite(invite, {"expires_at": past - timedelta(hours=1)})
    invites.update_invite(invite, {"expires_at": None})
    assert invite.expires_at is None and invites.state_of(invite) == "active"


def test_expiry_times_are_stored_in_utc_whatever_offset_they_came_with(admin):
    invite = make(admin, expires_at="2099-06-01T12:00:00+02:00")
    db.session.expire_all()
    stored = db.session.get(Invite, invite.id).expires_at
    assert stored == datetime(2099, 6, 1, 10, 0, tzinfo=timezone.utc) and stored.utcoffset() == timedelta(0)
    assert invites.to_dict(invite)["expires_at"] == "2099-06-01T10:00:00.000Z"
    naive = make(admin, expires_at="2099-06-01T12:00:00")  # no offset: UTC
    assert naive.expires_at == datetime(2099, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_a_disabled_link_opens_nothing_and_counts_no_use(admin):
    invite = make(admin)
    guest = invites.open_session(invite, None)
    invites.update_invite(invite, {"enabled": False})
    assert invites.state_of(invite) == "disabled"
    with pytest.raises(invites.InviteClosed) as closed:
        invites.open_session(invite, None)
    assert (closed.value.status, closed.value.error_code) == (410, "invite_disabled")
    with pytest.raises(invites.InviteClosed):
        invites.check_session_open(guest)
    with pytest.raises(invites.InviteClosed):
        invites.count_use(guest)
    assert db.session.get(Invite, invite.id).uses == 0
    invites.update_invite(invite, {"enabled": True})
    assert invites.open_session(invite, None).invite_id == invite.id


def test_disabled_wins_over_expired_and_used_up(admin):
    invite = make(admin, max_uses=1)
    set_column(invite, uses=1, expires_at=utcnow() - timedelta(days=1), enabled=False)
    assert invites.state_of(invite) == "disabled"
    invites.update_invite(invite, {"enabled": True})
    assert invites.state_of(invite) == "expired"


# -- the rules of each field ------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, error_code", [
    ({"name": ""}, "invalid_name"),
    ({"name": "   "}, "invalid_name"),
    ({"name": "x" * 101}, "invalid_name"),
    ({"name": "bad\x00name"}, "invalid_name"),
    ({"name": "lone \ud800 surrogate"}, "invalid_name"),
    ({"post_title": "x" * 301}, "invalid_post_title"),
    ({"post_title": "a\x07b"}, "invalid_post_title"),
    ({"expires_at": "next tuesday"}, "invalid_expires_at"),
    ({"expires_at": "0001-01-01T00:00:00+01:00"}, "invalid_expires_at"),
    ({"max_uses": 0}, "invalid_max_uses"),
    ({"max_uses": 1_000_001}, "invalid_max_uses"),
    ({"max_uses": True}, "invalid_max_uses"),
    ({"max_uses": "many"}, "invalid_max_uses"),
    ({"password": "abc"}, "weak_password"),
    ({"password": "x" * 257}, "invalid_password"),
    ({"max_file_bytes": 0}, "invalid_max_file_bytes"),
    ({"max_total_bytes": -5}, "invalid_max_total_bytes"),
    ({"allowed_kinds": ["image", "executable"]}, "invalid_allowed_kinds"),
    ({"allowed_kinds": []}, "invalid_allowed_kinds"),
    ({"allow_uploads": False, "allow_urls": False}, "nothing_allowed"),
    ({"allow_urls": "maybe"}, "invalid_allow_urls"),
    ({"token_hash": "x"}, "invalid_field"),
    ({"uses": 5}, "invalid_field"),
])
def test_bad_values_are_refused_with_their_own_error_code(admin, fields, error_code):
    with pytest.raises(Invalid) as refused:
        make(admin, **fields)
    assert refused.value.error_code == error_code
    assert refused.value.status == 422
    assert db.session.scalars(select(Invite)).all() == []


def test_a_refused_change_changes_nothing(admin):
    invite = make(admin, max_uses=3, post_title="Before")
    with pytest.raises(Invalid):
        invites.update_invite(invite, {"post_title": "After", "max_uses": 0})
    db.session.expire_all()
    again = db.session.get(Invite, invite.id)
    assert (again.post_title, again.max_uses) == ("Before", 3)


def test_names_and_titles_are_tidied_and_kinds_kept_in_order(admin):
    invite = make(admin, name="  Summer \t party  ", post_title="  ", allowed_kinds="other image")
    assert invite.name == "Summer party" and invite.post_title is None
    assert invite.kinds == ("image", "other")
    invites.update_invite(invite, {"allowed_kinds": ["audio", "video", "audio"]})
    assert invite.allowed_kinds == "video audio"


def test_the_password_is_stored_hashed_and_checked(admin):
    invite = make(admin, password="lemonade")
    assert invite.password_hash and "lemonade" not in invite.password_hash
    guest = invites.open_session(invite, None)
    assert guest.password_ok is False
    assert invites.check_password(invite, guest, "wrong") is False
    assert invites.check_password(invite, guest, "lemonade") is True and guest.password_ok
    invites.update_invite(invite, {"password": None})
    assert invite.password_hash is None
    data = invites.to_dict(invite)
    assert "password" not in data and "password_hash" not in data and data["has_password"] is False


def test_the_api_object_has_every_field_and_the_totals_when_given(admin):
    invite = make(admin, post_title="Folder", max_uses=4, max_file_bytes=1000)
    data = invites.to_dict(invite, invites.InviteTotals(items=2, bytes=10, sessions=1))
    assert set(data) == {"id", "name", "post_title", "expires_at", "max_uses", "uses", "has_password", "allow_uploads",
                         "allow_urls", "allow_private_urls", "max_file_bytes", "max_total_bytes", "allowed_kinds",
                         "enabled", "state", "token", "url", "created_at", "last_used_at", "items", "bytes", "sessions",
                         "preset"}
    assert (data["items"], data["bytes"], data["sessions"], data["max_file_bytes"]) == (2, 10, 1, 1000)
    assert data["url"].endswith("/i/" + data["token"])


# -- the admin's list -----------------------------------------------------------------------------------


def test_search_matches_name_or_post_title_ignoring_case_and_wildcards(admin):
    make(admin, name="Summer party", post_title="Beach")
    make(admin, name="Band", post_title="SUMMER tour")
    make(admin, name="100% fun")
    make(admin, name="100 fun")
    names = lambda q: sorted(i.name for i in invites.list_invites(q)[0])  # noqa: E731
    assert names("summer") == ["Band", "Summer party"]
    assert names("beach") == ["Summer party"]
    assert names("100%") == ["100% fun"]  # % is a character here, not LIKE's wildcard
    assert names("_") == []
    assert names("  ") == ["100 fun", "100% fun", "Band", "Summer party"]
    assert invites.list_invites("summer")[1] == 2


def test_sorts_put_never_used_and_never_expiring_where_people_expect(admin):
    now = utcnow()
    a = make(admin, name="alpha")
    b = make(admin, name="Bravo", expires_at=now + timedelta(days=2))
    make(admin, name="charlie", expires_at=now + timedelta(days=1))
    set_column(a, uses=5, last_used_at=now - timedelta(hours=1))
    set_column(b, uses=1, last_used_at=now - timedelta(hours=5))
    ids = lambda sort, order=None: [i.name for i in invites.list_invites(sort=sort, order=order)[0]]  # noqa: E731
    assert ids("name") == ["alpha", "Bravo", "charlie"]  # ignoring case
    assert ids("name", "desc") == ["charlie", "Bravo", "alpha"]
    assert ids("created") == ["charlie", "Bravo", "alpha"]  # newest first
    assert ids("uses") == ["alpha", "Bravo", "charlie"]
    assert ids("last_used") == ["alpha", "Bravo", "charlie"]  # never used: last
    assert ids("last_used", "asc") == ["charlie", "Bravo", "alpha"]  # never used: the oldest
    assert ids("expires") == ["charlie", "Bravo", "alpha"]  # never expires: last
    assert ids("expires", "desc") == ["alpha", "Bravo", "charlie"]
    with pytest.raises(Invalid):
        invites.list_invites(sort="password")
    with pytest.raises(Invalid):
        invites.list_invites(order="sideways")


def test_pages_of_the_list(admin):
    for number in range(7):
        make(admin, name=f"Link {number}")
    rows, total = invites.list_invites(sort="name", offset=5, limit=5)
    assert total == 7 and [row.name for row in rows] == ["Link 5", "Link 6"]


def test_the_public_upload_pages_invite_is_not_the_admins(admin):
    public = make(admin, name="Public page")
    set_column(public, is_public_page=True)
    own = make(admin, name="Own")
    assert [i.name for i in invites.list_invites()[0]] == ["Own"]
    assert invites.invites_by_ids([public.id, own.id]) == [own]
    with pytest.raises(NotFound):
        invites.get_invite(public.id)


@pytest.mark.parametrize("invite_id", [0, -1, 999, 2**63, 10**30])
def test_unknown_ids_are_not_found(admin, invite_id):
    with pytest.raises(NotFound) as missing:
        invites.get_invite(invite_id)
    assert missing.value.error_code == "invite_not_found"


# -- what came through it, switching many, deleting --------------------------------------------------------


def _guest_job(invite, guest, size: int, n: int):
    submission = Submission(source="invite", submitted_via="invite", invite_id=invite.id, guest_session_id=guest.id,
                            items=[])
    job = Job(submission=submission, url=f"https://example.com/{invite.id}/{n}", domain="example.com", status="queued")
    job.claim("tests")
    job.finish(Outcome.COMPLETED)
    job.files.append(JobFile(path=f"x/{invite.id}-{n}.jpg", size=size, sha256=f"{invite.id:032d}{n:032d}"))
    db.session.add(submission)
    db.session.commit()
    return job


def test_totals_count_items_bytes_and_sessions_per_invite(admin):
    party, other, idle = make(admin, name="Party"), make(admin, name="Other"), make(admin, name="Idle")
    guest = invites.open_session(party, None)
    invites.count_use(guest)
    db.session.commit()
    _guest_job(party, guest, 1000, 1)
    _guest_job(party, guest, 24, 2)
    other_guest = invites.open_session(other, None)
    _guest_job(other, other_guest, 5, 1)
    # A duplicate upload made no job of its own but is an item; a failed or unfinished one is not.
    for status in (DUPLICATE, UPLOAD_FAILED, "uploading", STORED):
        db.session.add(Upload(invite_id=party.id, guest_session_id=guest.id, filename="f.jpg", size=1, chunk_size=1,
                              status=status))
    db.session.commit()
    result = invites.totals([party.id, other.id, idle.id])
    assert (result[party.id].items, result[party.id].bytes, result[party.id].sessions) == (3, 1024, 1)
    assert (result[other.id].items, result[other.id].bytes, result[other.id].sessions) == (1, 5, 0)
    assert (result[idle.id].items, result[idle.id].bytes, result[idle.id].sessions) == (0, 0, 0)
    assert invites.totals([]) == {}


def test_switching_several_counts_only_those_that_changed(admin):
    a, b = make(admin, name="A"), make(admin, name="B", enabled=False)
    assert invites.set_enabled([a, b], False) == 1
    assert invites.set_enabled([a, b], True) == 2
    assert all(i.enabled for i in invites.invites_by_ids([a.id, b.id]))


def test_deleting_ends_sessions_and_keeps_what_guests_sent(admin):
    keep, gone1, gone2 = make(admin, name="Keep"), make(admin, name="Gone 1"), make(admin, name="Gone 2")
    guest = invites.open_session(gone1, None)
    job = _guest_job(gone1, guest, 10, 1)
    db.session.add(Upload(invite_id=gone1.id, guest_session_id=guest.id, filename="f.jpg", size=1, chunk_size=1))
    db.session.commit()
    assert invites.delete_invites([gone1, gone2]) == 2
    db.session.expire_all()
    assert [i.name for i in invites.list_invites()[0]] == ["Keep"]
    assert db.session.get(GuestSession, guest.id) is None
    assert db.session.scalars(select(Upload)).all() == []
    kept = db.session.get(Job, job.id)
    assert kept is not None and kept.files[0].size == 10
    assert (kept.submission.invite_id, kept.submission.guest_session_id) == (None, None)
    invites.delete_invite(keep)
    assert invites.list_invites()[1] == 0
    assert invites.delete_invites([]) == 0
