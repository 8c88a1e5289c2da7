"""The second adversarial round against the digests beside "<redacted>" (719217c), each way now shut: an entry claiming
a deletion, a creation or a login around a swapped secret; an entry for a token not yet made; the configured hashers
changing; a password as typed that looks like a hash."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)


def _verify_output() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


def _token(make_user: Any, name: str = "gov") -> Any:
    from governance.tokens import token_create

    gov = make_user(name, "governance admin", is_staff=True)
    token, _ = token_create(user=gov, name="laptop", by=gov)
    return token


def test_a_delete_entry_then_an_update_resets_a_set_once_key_hash(make_user: Any) -> None:
    """A `delete` entry for a token that is not deleted drops the replay's object (digest and all); the next entry
    naming its fields (under any verb: a touch) starts it afresh with the insider's digest, and the reconciliation
    never asks whether a row the log says is deleted came back. The token stays, with the insider's key hash."""
    from audit import writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import _digest, token_authenticate

    token = _token(make_user)
    insider_key = "mg_insider-held-key"
    swapped = _digest(insider_key)
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.delete", obj=token, changes={})
        # not a create: any verb, as long as it names every field (the replay still counts the token as created)
        writer.record(action="governance.apitoken.touch", obj=token, changes=dict(
            writer._diff({}, dict(ApiToken.objects.get(pk=token.pk).audit_values(), key_hash=swapped),
                         ApiToken.AUDIT_SECRETS)))
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    assert token_authenticate(insider_key) is not None
    ok, _ = _verify_output()
    assert not ok, "verify passed: key_hash swapped after a fake delete entry reset the set-once digest"


@pytest.mark.skipif(connection.vendor != "postgresql", reason=(
    "SQLite hands a deleted object's id out again after a migration remakes its table (test_digest_attack3), so a "
    "creation after a deletion is no contradiction there; PostgreSQL never reuses an id"))
def test_a_delete_entry_then_a_create_resets_a_set_once_key_hash(make_user: Any) -> None:
    """The same with the writer's own shapes: a delete entry (as writer.delete records it) and a create entry (as
    writer.save records a new token), for a token whose row is only updated."""
    from audit import writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import _digest, token_authenticate

    token = _token(make_user)
    insider_key = "mg_insider-held-key-2"
    swapped = _digest(insider_key)
    before = ApiToken.objects.get(pk=token.pk).audit_values()
    after = dict(before, key_hash=swapped)
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.delete", obj=token,
                      changes=writer._diff(before, {}, ApiToken.AUDIT_SECRETS))
        writer.record(action="auth.token.create", obj=token, changes=writer._diff({}, after, ApiToken.AUDIT_SECRETS))
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    assert token_authenticate(insider_key) is not None
    ok, _ = _verify_output()
    assert not ok, "verify passed: a token 'deleted' and 'created' again under the same id with another key hash"


def test_an_entry_for_a_token_not_yet_made_fixes_its_key_hash_digest(make_user: Any) -> None:
    """An entry for the next token id, written before it exists, holds the first digest of its key_hash: the real
    creation's digest is then ignored (set once), so the innocent token is named until the insider swaps in the key
    hash they chose, after which verify passes with the insider's key hash in the row."""
    from audit import chain, writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import _digest, token_authenticate, token_create

    first = _token(make_user)
    insider_key = "mg_insider-held-key-3"
    swapped = _digest(insider_key)
    future = writer.ObjectRef(type="governance.apitoken", id=str(first.pk + 1), repr="laptop")
    victim = make_user("victim", "governance admin", is_staff=True)
    with audit_context(actor=system_actor("insider"), channel="system"):
        writer.record(action="governance.apitoken.touch", obj=future, changes={
            "key_hash": {"old": chain.REDACTED, "new": chain.REDACTED},
            "key_hash.sha256": {"old": None, "new": chain.secret_digest(swapped, "key_hash")}})
    token, _ = token_create(user=victim, name="victim laptop", by=victim)
    assert token.pk == first.pk + 1
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.touch", obj=token, changes={})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    assert token_authenticate(insider_key) is not None
    ok, _ = _verify_output()
    assert not ok, "verify passed: the digest the insider wrote for a token id before it existed was kept"


def test_changing_password_hashers_names_no_innocent_user(make_user: Any) -> None:
    """A user whose password hash was recorded under one PASSWORD_HASHERS, verified under another (a weak hasher
    removed once its users migrated, a dependency dropped): verify names the user, though nothing changed."""
    make_user("alice")
    assert _verify_output()[0]
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        ok, out = _verify_output()
    assert ok, f"verify named an untouched user after a settings change:\n{out}"


def test_a_hash_imported_before_its_hasher_was_configured_is_no_alarm(make_user: Any) -> None:
    """The reverse: hashes imported (from another system) before their hasher is configured are 'not a hash'; once
    it is configured they sign in, and verify names every such user."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from audit.context import audit_context, system_actor

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        imported = make_password("legacy", hasher="pbkdf2_sha256")
    with audit_context(actor=system_actor("import"), channel="system"):
        get_user_model().objects.create(username="legacy", password=imported)
    assert _verify_output()[0]
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher",
                                             "django.contrib.auth.hashers.PBKDF2PasswordHasher"]):
        ok, out = _verify_output()
    assert ok, f"verify named a user whose password never changed:\n{out}"


@pytest.mark.parametrize("typed", [
    hashlib.sha256(b"Winter2026!").hexdigest(),  # a client that pre-hashes the password, or a hex API secret
    "md5$Winter2026!",  # identify_hasher only reads the prefix before the last "$"
])
def test_a_password_as_typed_that_looks_like_a_hash_is_not_fast_hashed_into_the_log(typed: str) -> None:
    """A password stored as typed (ORM create, shell) that merely looks like a hash: its unsalted SHA-256 goes into
    the log, a fast hash a dictionary attack reverses (for the first, sha256(sha256(weak password)))."""
    from django.contrib.auth import get_user_model

    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry

    with audit_context(actor=system_actor("operator shell"), channel="system"):
        user = get_user_model().objects.create(username="ops", email="ops@example.com", password=typed)
    fast = hashlib.sha256(typed.encode()).hexdigest().encode()
    entries = AuditEntry.objects.filter(object_type="auth.user", object_id=str(user.pk)).values_list(
        "canonical", flat=True)
    assert not any(fast in bytes(e) for e in entries), "the log holds sha256 of a password as typed"


def test_a_password_swap_under_a_login_action_is_named(make_user: Any) -> None:
    """A login's changes are always {}: an entry whose action says login but that carries the password's change and
    digest is accepted by the replay as a password change; the user's history shows a login."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from audit import chain, writer
    from audit.context import audit_context, user_actor

    victim = make_user("victim", "governance admin", is_staff=True)
    user_model = get_user_model()
    old = user_model.objects.get(pk=victim.pk).password
    new = make_password("known to the insider")
    with audit_context(actor=user_actor(victim), channel="system"), writer.atomic():
        writer.record(action="auth.user.login", obj=victim, changes={
            "password": {"old": chain.REDACTED, "new": chain.REDACTED},
            "password.sha256": {"old": chain.secret_digest(old, "password"),
                                "new": chain.secret_digest(new, "password")}})
        models.QuerySet(user_model).filter(pk=victim.pk).update(password=new)
    ok, _ = _verify_output()
    assert not ok, "verify passed: a password change recorded under a login action"
