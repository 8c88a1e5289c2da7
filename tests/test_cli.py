"""The `modelgov` client against a live test server: register, report, promote, decide, export, verify; the
inventory as of an instant."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import skops.io as sio
from django.utils import timezone

from cli.main import BLOCKED, ERROR, OK, USAGE, main
from demo import credit
from tests.audit.test_reconcile import flow  # noqa: F401  (the fixture: the demo's course in small)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(user: Any) -> str:
    from governance.tokens import token_create

    return token_create(user=user, name="ci")[1]


def run(capsys: Any, monkeypatch: Any, url: str, token: str, *argv: str) -> tuple[int, Any]:
    monkeypatch.setenv("MODELGOV_URL", url)
    monkeypatch.setenv("MODELGOV_TOKEN", token)
    code = main(["--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_pipeline_through_the_cli(live_server: Any, make_user: Any, capsys: Any, monkeypatch: Any,
                                  tmp_path: Path) -> None:
    from registry.services.model import registered_model_create
    from reports import services

    monkeypatch.setitem(services.DEFAULT_CONFIG, "n_boot", 20)
    monkeypatch.setitem(services.DEFAULT_CONFIG, "n_explain", 50)
    dev = make_user("dev", "model developer")
    approvers = [make_user(n, r) for n, r in (("val", "model validator"), ("risk", "risk officer"),
                                               ("comp", "compliance officer"))]
    from audit.context import audit_context, user_actor

    with audit_context(actor=user_actor(dev)):
        registered_model_create(by=dev, name="credit-risk", title="Credit", risk_tier="low")
    url, dev_token = live_server.url, _token(dev)
    train, test = credit.split(credit.load())
    (tmp_path / "train.csv").write_text(train.to_csv(index=False))
    (tmp_path / "eval.csv").write_text(test.to_csv(index=False))
    (tmp_path / "v2.skops").write_bytes(sio.dumps(credit.train_v2(train)))

    code, tr = run(capsys, monkeypatch, url, dev_token, "dataset", "register", "german", str(tmp_path / "train.csv"),
                   "--target", "risk", "--sensitive", "sex", "--sensitive", "age")
    assert code == OK and tr["row_count"] == len(train)
    code, ev = run(capsys, monkeypatch, url, dev_token, "dataset", "register", "german", str(tmp_path / "eval.csv"),
                   "--target", "risk", "--sensitive", "sex", "--sensitive", "age")
    code, ver = run(capsys, monkeypatch, url, dev_token, "version", "register", "credit-risk",
                    str(tmp_path / "v2.skops"), "--train", str(tr["id"]), "--eval", str(ev["id"]),
                    "--metrics", json.dumps({"roc_auc": 0.74}), "--commit", "abc123")
    assert code == OK and ver["version"] == 1
    val_token = _token(approvers[0])
    code, reps = run(capsys, monkeypatch, url, val_token, "report", "request", str(ver["id"]), "--wait")
    assert code == OK and {r["status"] for r in reps} == {"succeeded"}
    code, _ = run(capsys, monkeypatch, url, val_token, "report", "fetch", str(reps[0]["id"]), "-o",
                        str(tmp_path / "bias.pdf"))
    assert code == OK and (tmp_path / "bias.pdf").read_bytes().startswith(b"%PDF")
    code, req = run(capsys, monkeypatch, url, dev_token, "promote", str(ver["id"]), "--stage", "production",
                    "--justification", "CI release")
    assert code == OK and req["status"] == "pending"
    code, _ = run(capsys, monkeypatch, url, dev_token, "request", "approve", str(req["id"]), "--role", "validator")
    assert code != OK  # the requester holds no approver role and may never decide their own request
    for user, role in zip(approvers[:2], ("validator", "risk_officer"), strict=True):
        code, body = run(capsys, monkeypatch, url, _token(user), "request", "approve", str(req["id"]), "--role", role)
    assert body["status"] == "approved"
    code, shown = run(capsys, monkeypatch, url, dev_token, "request", "show", str(req["id"]))
    assert code == OK and shown["status"] == "approved"
    aud = make_user("aud", "auditor")
    code, _ = run(capsys, monkeypatch, url, _token(aud), "audit", "export", str(tmp_path / "bundle"))
    assert code == OK
    code, verified = run(capsys, monkeypatch, url, "", "audit", "verify", str(tmp_path / "bundle"))
    assert code == OK and verified["ok"] and verified["entries"] > 10


def test_gate_failure_and_config_errors_have_exit_codes(live_server: Any, make_user: Any, capsys: Any,
                                                        monkeypatch: Any, tmp_path: Path) -> None:
    from audit.context import audit_context, user_actor
    from registry.services.model import registered_model_create
    from registry.services.version import model_version_create

    dev = make_user("dev", "model developer")
    with audit_context(actor=user_actor(dev)):
        model = registered_model_create(by=dev, name="m", title="M", risk_tier="low")
        version = model_version_create(model=model, by=dev, artifact=io.BytesIO(sio.dumps(credit.train_v1(
            credit.split(credit.load())[0]))), artifact_format="skops", metrics={"roc_auc": 0.5})
    code, body = run(capsys, monkeypatch, live_server.url, _token(dev), "promote", str(version.pk), "--stage",
                     "staging", "--justification", "try")
    assert code == BLOCKED
    assert any(not g["passed"] and g["name"] == "metric.roc_auc" for g in body["gates"])
    monkeypatch.delenv("MODELGOV_TOKEN", raising=False)
    monkeypatch.setenv("MODELGOV_CONFIG", str(tmp_path / "none.toml"))
    assert main(["request", "show", "1"]) == USAGE


def test_djangos_own_commands_record_their_changes_as_cli(monkeypatch: Any) -> None:
    # A transactional test (the module's mark): run_from_argv closes every connection when it ends.
    import manage
    from audit.models import AuditEntry

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-password")
    monkeypatch.setattr("sys.argv", ["manage.py", "createsuperuser", "--noinput", "--username", "ops",
                                     "--email", "ops@example.com"])
    manage.main()
    entry = AuditEntry.objects.get(action="auth.user.create", object_repr="ops").as_json()
    assert entry["actor"] == {"kind": "system", "id": None, "name": "manage.py createsuperuser"}
    assert entry["context"]["channel"] == "cli"
    assert entry["changes"]["is_superuser"]["new"] is True and entry["changes"]["password"]["new"] == "<redacted>"


def test_inventory_as_of_an_instant(live_server: Any, flow: dict[str, Any], capsys: Any,  # noqa: F811
                                    monkeypatch: Any) -> None:
    from audit.checkpoints import checkpoint_create
    from audit.models import AuditEntry
    from governance import inventory
    from tests.factories import make_model

    people = flow["people"]
    promoted = AuditEntry.objects.get(object_type="registry.modelversion", object_id=str(flow["v2"].pk),
                                      action=inventory.STAGE_CHANGE)
    checkpoint_create()
    for name in ("later-a", "later-b"):
        make_model(people.dev, name)
    url, token, when = live_server.url, _token(people.aud), promoted.ts.isoformat()
    # The API's documents, every page of them: here a page a model, so `next` is followed.
    monkeypatch.setattr("cli.main.INVENTORY_PAGE", 1)
    code, pages = run(capsys, monkeypatch, url, token, "inventory", "--as-of", when)
    assert code == OK and [m["name"] for p in pages for m in p["models"]] == ["pd"]  # the later ones not yet
    code, now = run(capsys, monkeypatch, url, token, "inventory", "--as-of", timezone.now().isoformat())
    assert code == OK and len(now) == 3 and [p["next"] for p in now][-1] is None
    assert [m["name"] for p in now for m in p["models"]] == ["pd", "later-a", "later-b"]
    assert now[0]["head"] == now[2]["head"]
    (doc,) = pages
    v2 = next(v for v in doc["models"][0]["versions"] if v["version"] == 2)
    assert v2["stage"] == "production" and v2["promotion"]["seq"] == promoted.seq
    assert v2["promotion"]["inclusion"]["root"] == doc["checkpoint"]["root"]
    code, one = run(capsys, monkeypatch, url, token, "inventory", "--as-of", when, "--model", "pd")
    assert code == OK and one["model"] == doc["models"][0] and one["head"] == doc["head"]
    # Readable: the versions and stages, the production promotion's entry and its proof; --json after the command.
    assert main(["inventory", "--as-of", when]) == OK
    text = capsys.readouterr().out
    assert f"head: entry #{doc['head']['seq']}" in text and "policy in force: default" in text
    row = next(line for line in text.splitlines() if line.startswith("pd ") and " v2 " in line)
    assert "production" in row and f"#{promoted.seq}" in row and f"{doc['checkpoint']['size']}-entry" in row
    assert "val (validator) approve" in text
    assert main(["inventory", "--as-of", when, "--model", "pd", "--json"]) == OK
    assert json.loads(capsys.readouterr().out)["model"]["name"] == "pd"
    # What the server refuses is said, with exit code 1, as every command's refusal.
    for argv, says in ((["--as-of", "2026-01-01T00:00:00"], "has no UTC offset"),
                       (["--as-of", "2999-01-01T00:00:00Z"], "in the future"),
                       (["--as-of", "yesterday"], "is not a date and time"),
                       (["--as-of", when, "--model", "nope"], "no model named 'nope'")):
        assert main(["inventory", *argv]) == ERROR
        assert says in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["inventory"])  # --as-of is required
    assert exit_.value.code == USAGE
