"""The digests of secrets beside "<redacted>" (audit.chain.digest_key) against an insider who can append entries and
run SQL: each way found by the adversarial review of 110ea7f, shut."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import models

pytestmark = pytest.mark.django_db(transaction=True)


def _verify_output() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


def _token(make_user: Any) -> Any:
    from governance.tokens import token_create

    gov = make_user("gov", "governance admin", is_staff=True)
    token, _ = token_create(user=gov, name="laptop", by=gov)
    return token


def test_a_digest_only_change_does_not_cover_a_key_hash_swap(make_user: Any) -> None:
    """The insider's entry names no change of key_hash (no "<redacted>"), only a `key_hash.sha256` beside nothing:
    verify takes the digest as the log's word on key_hash and passes. A digest change without its field's change
    (and, for a token, any change of key_hash after its creation, which ApiToken.save forbids) should be named."""
    from audit import chain, writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import _digest, token_authenticate

    token = _token(make_user)
    insider_key = "mg_insider-held-key"
    swapped = _digest(insider_key)
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.touch", obj=token, changes={
            "key_hash.sha256": {"old": chain.secret_digest(token.key_hash, "key_hash"),
                                "new": chain.secret_digest(swapped, "key_hash")}})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    assert token_authenticate(insider_key) is not None  # the insider now acts as the token's owner
    ok, _ = _verify_output()
    assert not ok, "verify passed: a key_hash swap recorded only as a bare key_hash.sha256 change"


def test_a_password_digest_under_a_login_entry_does_not_cover_a_swap(make_user: Any) -> None:
    """The same for a password, under an entry whose action is a login (whose changes are always {}): verify
    passes, and the user's history shows no password change."""
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
            "password.sha256": {"old": chain.secret_digest(old, "password"),
                                "new": chain.secret_digest(new, "password")}})
        models.QuerySet(user_model).filter(pk=victim.pk).update(password=new)
    assert user_model.objects.get(pk=victim.pk).check_password("known to the insider")
    ok, _ = _verify_output()
    assert not ok, "verify passed: a password swapped under a login entry carrying only password.sha256"


def test_a_password_column_holding_plaintext_puts_its_fast_hash_in_the_log(make_user: Any) -> None:
    """Django stores whatever is assigned to `password` (User.objects.create(password=...), user.password = ...,
    a shell): the log, append-only and exported, now keeps the unsalted SHA-256 of that value, a fast hash a
    dictionary attack reverses; before 110ea7f it kept "<redacted>" only."""
    from django.contrib.auth import get_user_model

    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry

    plaintext = "Winter2026!"
    with audit_context(actor=system_actor("operator shell"), channel="system"):
        user = get_user_model().objects.create(username="ops", email="ops@example.com", password=plaintext)
    fast_hash = hashlib.sha256(plaintext.encode()).hexdigest().encode()
    entries = AuditEntry.objects.filter(object_type="auth.user", object_id=str(user.pk)).values_list(
        "canonical", flat=True)
    assert not any(fast_hash in bytes(e) for e in entries), "the log holds sha256(plaintext password)"


def test_a_tokens_key_hash_changed_after_creation_passes_verify(make_user: Any) -> None:
    """Older than 110ea7f in kind: an entry that says a token's key_hash changed ("<redacted>" and, now, the digest
    of the swapped-in hash) is accepted, though a token's key_hash never changes after its creation
    (ApiToken.save refuses it). With the digest the log could now say it, but reconcile does not check it."""
    from audit import chain, writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import _digest

    token = _token(make_user)
    swapped = _digest("mg_insider-held-key")
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="auth.token.revoke", obj=token, changes={
            "key_hash": {"old": chain.REDACTED, "new": chain.REDACTED},
            "key_hash.sha256": {"old": chain.secret_digest(token.key_hash, "key_hash"),
                                "new": chain.secret_digest(swapped, "key_hash")}})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    ok, _ = _verify_output()
    assert not ok, "verify passed: a token's key_hash changed after its creation"


def _pre_digest_diff(old: dict[str, Any], new: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    """audit.writer._diff as it was before 110ea7f: a secret's change is "<redacted>" with no digest beside it."""
    from audit import chain

    changes: dict[str, Any] = {}
    for name in sorted(set(old) | set(new)):
        before, after = chain.jsonable(old.get(name)), chain.jsonable(new.get(name))
        if before != after:
            if name in secrets:
                before, after = chain.REDACTED, chain.REDACTED
            changes[name] = {"old": before, "new": after}
    return changes


def test_a_token_made_before_the_digests_is_sealed_by_record_digests(make_user: Any, monkeypatch: Any) -> None:
    """A token made before the digests has none in the log, and its key hash never changes: `audit record-digests`,
    run once after upgrading, records the digest of each such secret (only those), after which a swap under an
    unrelated entry is named; run again, it records nothing."""
    from audit import chain, writer
    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry
    from governance.models import ApiToken
    from governance.tokens import _digest

    with monkeypatch.context() as m:
        m.setattr(writer, "_diff", _pre_digest_diff)
        token = _token(make_user)  # written by the code before the upgrade
    fresh = _token_for(make_user("fresh", "governance admin", is_staff=True))
    swapped = _digest("mg_insider-held-key")
    out = StringIO()
    call_command("audit", "record-digests", stdout=out)
    assert "recorded the digests of" in out.getvalue()
    sealed = AuditEntry.objects.filter(action__endswith=".digests_recorded")
    assert ("governance.apitoken", str(token.pk)) in {(e.object_type, e.object_id) for e in sealed}
    assert ("governance.apitoken", str(fresh.pk)) not in {(e.object_type, e.object_id) for e in sealed}
    assert all(token.key_hash not in bytes(e.canonical).decode() for e in sealed)
    entry = sealed.get(object_id=str(token.pk), object_type="governance.apitoken")
    assert str(chain.secret_digest(token.key_hash, "key_hash")) in bytes(entry.canonical).decode()
    again = StringIO()
    call_command("audit", "record-digests", stdout=again)
    assert "already in the log" in again.getvalue()
    assert _verify_output()[0]
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="governance.apitoken.touch", obj=token, changes={})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(key_hash=swapped)
    ok, out_ = _verify_output()
    assert not ok and f"governance.apitoken#{token.pk} field key_hash" in out_


def _token_for(user: Any) -> Any:
    from governance.tokens import token_create

    token, _ = token_create(user=user, name="ci", by=user)
    return token
