"""The third adversarial round against the digests beside "<redacted>" (719217c, 4b8fea1): each test fails while the
way it shows is open."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, models

pytestmark = pytest.mark.django_db(transaction=True)


def _verify_output() -> tuple[bool, str]:
    out = StringIO()
    try:
        call_command("audit", "verify", "--quiet", stdout=out, stderr=StringIO())
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


def _swap_entry(old: str, new: str) -> dict[str, Any]:
    from audit import chain

    return {"password": {"old": chain.REDACTED, "new": chain.REDACTED},
            "password.sha256": {"old": chain.secret_digest(old, "password"),
                                "new": chain.secret_digest(new, "password")}}


def test_a_password_swap_under_digests_recorded_is_named(make_user: Any) -> None:
    """`<type>.digests_recorded` is record-digests' entry: it seals a digest the log lacks, and says no secret
    changed ("<redacted>" to "<redacted>", old digest null). For a token a second one is ignored (set once); for a
    password it replaces the digest the log holds: an insider's `auth.user.digests_recorded`, indistinguishable from
    the upgrade's routine sealing, covers a password swapped by SQL."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from audit import chain, writer
    from audit.context import audit_context, system_actor

    victim = make_user("victim", "governance admin", is_staff=True)
    user_model = get_user_model()
    new = make_password("known to the insider")
    changes = _swap_entry(user_model.objects.get(pk=victim.pk).password, new)
    changes["password.sha256"]["old"] = None  # as record_missing writes it
    with audit_context(actor=system_actor("record-digests"), channel="cli"), writer.atomic():
        writer.record(action="auth.user.digests_recorded", obj=victim, changes=changes)
        models.QuerySet(user_model).filter(pk=victim.pk).update(password=new)
    assert user_model.objects.get(pk=victim.pk).check_password("known to the insider")
    assert changes["password"] == {"old": chain.REDACTED, "new": chain.REDACTED}
    ok, _ = _verify_output()
    assert not ok, "verify passed: a password swapped under a digests_recorded entry for a user the log had sealed"


@pytest.mark.parametrize("action,extra", [
    ("governance.role.grant", {"role": {"old": None, "new": "model_validator"}}),
    ("auth.user.groups_add", {"groups": {"old": None, "new": {"add": []}}}),
])
def test_a_password_swap_under_a_membership_entry_is_named(make_user: Any, action: str, extra: Any) -> None:
    """Rule 4 lists the login actions only: a role grant (or a group add) on the user, whose changes never hold a
    password in the product, carries a password's change and digest and is applied. The user's history shows a role
    granted; verify passes with the insider's password hash in the row."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from audit import writer
    from audit.context import audit_context, system_actor

    victim = make_user("victim", "governance admin", is_staff=True)
    user_model = get_user_model()
    new = make_password("known to the insider")
    changes = {**extra, **_swap_entry(user_model.objects.get(pk=victim.pk).password, new)}
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action=action, obj=writer.ObjectRef(type="auth.user", id=str(victim.pk), repr="victim"),
                      changes=changes)
        models.QuerySet(user_model).filter(pk=victim.pk).update(password=new)
    assert user_model.objects.get(pk=victim.pk).check_password("known to the insider")
    ok, _ = _verify_output()
    assert not ok, f"verify passed: a password swapped under {action}"


def test_a_token_moved_to_another_user_is_named(make_user: Any) -> None:
    """The key hash is set once, but what it authenticates as is the token's `user`, which ApiToken.save equally
    forbids changing: an entry moving the insider's own token (key known to them) to the victim, under the routine
    `auth.token.revoke` verb's neighbour (any non-create verb), is applied. The insider's key then acts as the
    victim and verify passes: the same effect as swapping the victim's key hash."""
    from audit import writer
    from audit.context import audit_context, system_actor
    from governance.models import ApiToken
    from governance.tokens import token_authenticate, token_create

    victim = make_user("victim", "governance admin", is_staff=True)
    insider = make_user("insider", "governance admin", is_staff=True)
    token, key = token_create(user=insider, name="laptop", by=insider)
    with audit_context(actor=system_actor("insider"), channel="system"), writer.atomic():
        writer.record(action="auth.token.update", obj=token,
                      changes={"user": {"old": insider.pk, "new": victim.pk}})
        models.QuerySet(ApiToken).filter(pk=token.pk).update(user_id=victim.pk)
    found = token_authenticate(key)
    assert found is not None and found.user_id == victim.pk
    ok, _ = _verify_output()
    assert not ok, "verify passed: the insider's token moved to another user after its creation"


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_an_id_sqlite_hands_out_again_after_a_table_is_remade_is_no_alarm(make_user: Any) -> None:
    """SQLite's AUTOINCREMENT high-water mark lives in sqlite_sequence, which a migration that remakes a table
    (every AlterField, AddField with a constraint, ... on SQLite: schema_editor._remake_table) starts again from
    the rows copied. The newest user deleted, a migration run (an upgrade), the next user made gets the deleted
    id: rule 3 ("created twice / changed after its deletion") then names an innocent user forever."""
    from django.contrib.auth import get_user_model

    from audit.context import audit_context, system_actor

    make_user("alice")
    gone = make_user("mistake")
    gone_pk = gone.pk
    with audit_context(actor=system_actor("admin"), channel="admin"):
        gone.delete()
    assert _verify_output()[0]
    user_model = get_user_model()
    # What a migration altering auth_user does on SQLite (here with no change of the field itself).
    with connection.schema_editor() as editor:
        editor._remake_table(user_model)  # type: ignore[attr-defined] # SQLite's editor's own, private
    newcomer = make_user("bob")
    assert newcomer.pk == gone_pk, "SQLite kept its high-water mark: the id was not handed out again"
    ok, out = _verify_output()
    assert ok, f"verify named an innocent user whose id SQLite handed out again:\n{out}"


def test_a_typed_passphrase_shaped_like_a_hash_is_not_fast_hashed_into_the_log() -> None:
    """`_PASSWORD_HASH` reads any `word$anything$22+ base64 characters` as a hash: a password stored as typed (ORM
    create, shell: the path 4b8fea1 guarded for "md5$..." and 64 hex digits) such as a passphrase with two dollar
    signs gets its unsalted SHA-256 into the log. Low: it needs a password stored as typed in that shape."""
    import hashlib

    from django.contrib.auth import get_user_model

    from audit.context import audit_context, system_actor
    from audit.models import AuditEntry

    typed = "my$secret$CorrectHorseBatteryStaple1"
    with audit_context(actor=system_actor("operator shell"), channel="system"):
        user = get_user_model().objects.create(username="ops", email="ops@example.com", password=typed)
    fast = hashlib.sha256(typed.encode()).hexdigest().encode()
    entries = AuditEntry.objects.filter(object_type="auth.user", object_id=str(user.pk)).values_list(
        "canonical", flat=True)
    assert not any(fast in bytes(e) for e in entries), "the log holds sha256 of a password as typed"
