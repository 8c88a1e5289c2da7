"""Seeding modelgov at scale: registry and workflow rows by COPY, the audit log through the real append.

The domain rows go in with COPY (the governed models refuse bulk writes in the ORM, which is right for
the application and wrong for a seed). Every object gets the audit entries its services would have
written (create, approvals, stage changes, edits), made by the same PostgreSQL append the writer uses
with canonical bytes from `audit.format`, so the chain and Merkle nodes are exactly what production
makes and `audit verify` passes. The log's history is spread over a year of timestamps starting
when the database was migrated, because a chain's timestamps never go backwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODELS = 10_000
VERSIONS_PER_MODEL = 10
REQUESTS_PER_MODEL = 2  # 20,000 at full scale
ENTRIES = 1_000_000
DATASETS = 1_000
DEVELOPERS = 20
BATCH = 2_000  # entries per append call
HISTORY = dt.timedelta(days=365)
TIERS = ("low", "medium", "high", "critical")
FRAMEWORKS = ("scikit-learn", "xgboost", "lightgbm", "pytorch")
UNITS = ("retail", "credit", "fraud", "marketing", "operations")
ARTIFACT = b"modelgov scale benchmark: one shared artifact\n" * 20
ARTIFACT_NAME = "artifacts/bench-scale-shared.skops"
_OUTCOMES = ("pending", "approved", "approved", "rejected", "pending", "approved", "withdrawn", "approved", "expired",
             "rejected")


@dataclass
class Sizes:
    models: int
    entries: int
    datasets: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        return cls(models=max(2, round(MODELS * scale)), entries=max(200, round(ENTRIES * scale)),
                   datasets=max(2, round(DATASETS * scale)))

    @property
    def versions(self) -> int:
        return self.models * VERSIONS_PER_MODEL

    @property
    def requests(self) -> int:
        return self.models * REQUESTS_PER_MODEL


@dataclass
class People:
    developers: list[Any]
    validators: list[Any]
    risk: Any
    compliance: Any
    admin: Any


@dataclass
class Seeded:
    sizes: Sizes
    seconds: float
    entries: int
    first_ts: dt.datetime
    last_ts: dt.datetime
    model_names: list[str] = field(default_factory=list)
    version_ids: list[int] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)


def make_people() -> People:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from audit.context import audit_context, system_actor

    users = get_user_model().objects

    def make(name: str, *roles: str, superuser: bool = False) -> Any:
        user = (users.create_superuser if superuser else users.create_user)(name, f"{name}@scale.invalid", "x")
        for role in roles:
            user.groups.add(Group.objects.get(name=role))
        return user

    with audit_context(actor=system_actor("scale seed"), channel="system"):
        return People(
            developers=[make(f"dev{i:02d}", "model developer") for i in range(DEVELOPERS)],
            validators=[make(f"val{i}", "model validator") for i in range(2)],
            risk=make("risk1", "risk officer"),
            compliance=make("comp1", "compliance officer"),
            admin=make("admin", "model validator", "risk officer", superuser=True),
        )


class _Log:
    """Buffers entries and appends them in batches, each batch one step later on the history clock."""

    def __init__(self, cursor: Any, start: dt.datetime, step: dt.timedelta) -> None:
        self.cursor, self.start, self.step = cursor, start, step
        self.rows: list[dict[str, Any]] = []
        self.written = 0

    def now(self) -> dt.datetime:
        """The timestamp the entry added next will carry."""
        return self.start + self.step * ((self.written + len(self.rows)) // BATCH)

    def add(self, *, action: str, actor: Any, obj: tuple[str, int, str], changes: dict[str, Any],
            request_id: str) -> None:
        from audit.format.jcs import canonical

        actor_json = {"id": str(actor.pk), "kind": "user", "name": actor.username}
        body = {"action": action, "actor": actor_json, "changes": changes,
                "context": {"channel": "api", "request_id": request_id},
                "object": {"id": str(obj[1]), "repr": obj[2], "type": obj[0]}}
        self.rows.append({
            "prefix": canonical(body)[:-1].decode() + ",", "actor_kind": "user", "actor_id": str(actor.pk),
            "actor_name": actor.username, "action": action, "object_type": obj[0], "object_id": str(obj[1]),
            "object_repr": obj[2], "channel": "api", "request_id": request_id,
        })
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        from audit import pg_append

        if self.rows:
            pg_append.append(self.cursor, self.start + self.step * (self.written // BATCH), self.rows)
            self.written += len(self.rows)
            self.rows = []


class _Copy:
    """Rows per table, written with COPY when a chunk of models is done."""

    COLUMNS = {
        "registry_dataset": ("id", "name", "description", "owner_id", "created_at", "updated_at"),
        "registry_datasetversion": (
            "id", "dataset_id", "version", "file", "uri", "sha256", "size", "row_count", "schema", "target_column",
            "positive_label", "sensitive_columns", "description", "provenance", "licence", "created_by_id",
            "created_at", "updated_at"),
        "registry_datasetversion_parents": ("from_datasetversion_id", "to_datasetversion_id"),
        "registry_registeredmodel": (
            "id", "name", "title", "description", "owner_id", "business_unit", "intended_use", "out_of_scope_uses",
            "risk_tier", "eu_ai_act_category", "tags", "created_at", "updated_at"),
        "registry_registeredmodel_developers": ("registeredmodel_id", "user_id"),
        "registry_modelversion": (
            "id", "model_id", "version", "description", "stage", "artifact", "artifact_sha256", "artifact_size",
            "artifact_format", "framework", "framework_version", "hyperparameters", "metrics", "code_repository",
            "code_commit", "python_version", "packages", "parent_id", "created_by_id", "created_at", "updated_at",
            "stage_changed_at", "artifact_check"),
        "registry_modelversion_training_datasets": ("modelversion_id", "datasetversion_id"),
        "registry_modelversion_evaluation_datasets": ("modelversion_id", "datasetversion_id"),
        "governance_promotionrequest": (
            "id", "version_id", "target_stage", "justification", "requested_by_id", "status", "is_revalidation",
            "policy_name", "policy_version", "policy_rule", "policy_sha256", "created_at", "updated_at",
            "decided_at", "expires_at", "decision_gates", "decision_evidence", "trigger"),
        "governance_approval": (
            "id", "request_id", "approver_id", "role", "decision", "comment", "artifact_sha256", "evidence_digests",
            "created_at", "lapsed_at", "lapse_reason", "valid_until"),
        "registry_modelpersonnel": ("id", "model_id", "user_id", "role", "started_at", "ended_at"),
    }

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.COLUMNS}

    def add(self, table: str, *values: Any) -> None:
        self.rows[table].append(values)

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if rows:
                with self.cursor.copy(f"COPY {table} ({', '.join(self.COLUMNS[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                rows.clear()


def _ids() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


def _policy_freeze(policy: Any, stage: str, tier: str) -> tuple[dict[str, Any], str]:
    """The rule a request freezes and its digest, as `governance.services` computes them."""
    from audit.format.jcs import canonical

    rule = policy.rules[stage][tier]
    frozen = {"policy": policy.name, "version": policy.version, "stage": stage, "tier": tier, "rule": rule}
    return rule, hashlib.sha256(canonical(frozen)).hexdigest()


def seed(sizes: Sizes, media_root: Path) -> Seeded:
    """Seed everything; returns what the load scripts need to build their URLs."""
    from django.db import connection, transaction
    from django.utils import timezone

    from audit.models import AuditEntry
    from governance import stage_guard
    from governance.models import Policy
    from governance.slots import slots_rebuild

    started = time.perf_counter()
    people = make_people()
    (media_root / ARTIFACT_NAME).parent.mkdir(parents=True, exist_ok=True)
    (media_root / ARTIFACT_NAME).write_bytes(ARTIFACT)
    artifact_sha = hashlib.sha256(ARTIFACT).hexdigest()
    policy = Policy.objects.get(is_active=True)
    already = AuditEntry.objects.count()
    start = max(timezone.now(), AuditEntry.objects.order_by("-seq").values_list("ts", flat=True).first()
                or timezone.now())
    budget = max(sizes.entries - already, sizes.models * 30)
    step = HISTORY / max(1, budget // BATCH)
    per_model = budget // sizes.models
    out = Seeded(sizes=sizes, seconds=0.0, entries=0, first_ts=start, last_ts=start)
    ids = {t: _ids() for t in ("dataset", "dsv", "model", "version", "request", "approval", "personnel")}
    rid = _ids()

    # Versions go in in the stage their seeded history's approvals left them, as the database's owner could load
    # them: past the trigger that refuses a version made in a stage (governance.stage_guard), lifted for the load
    # (before the table has a pending event) and put back once it has committed (the next migrate would, too).
    made = f"{stage_guard.NAME}_made"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE registry_modelversion DISABLE TRIGGER {made}")
        raw = cursor.cursor
        log = _Log(cursor, start, step)
        rows = _Copy(raw)
        dataset_versions = _seed_datasets(sizes, people, rows, log, ids, rid)
        rows.flush()
        extra = budget - per_model * sizes.models
        for m in range(sizes.models):
            _seed_model(m, people, policy, artifact_sha, dataset_versions, rows, log, ids, rid,
                        quota=per_model + (1 if m < extra else 0), out=out)
            if m % 500 == 499:
                rows.flush()
        rows.flush()
        log.flush()
        out.last_ts = log.now()
        for table in ("registry_dataset", "registry_datasetversion", "registry_registeredmodel",
                      "registry_modelversion", "governance_promotionrequest", "governance_approval",
                      "registry_modelpersonnel"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 1) FROM {table}))")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE registry_modelversion ENABLE TRIGGER {made}")
    # COPY passes no save: the queue's table of open slots is derived from the rows, as its migration does.
    slots_rebuild()
    with connection.cursor() as cursor:
        # A bank's database is measured at rest: after a bulk load PostgreSQL's autovacuum would otherwise
        # run during the measurements (setting hint bits, building the visibility map that index-only scans
        # need), and pages would be measured against it. The peer's database gets the same.
        cursor.execute("VACUUM (ANALYZE)")
    out.entries = AuditEntry.objects.count()
    out.seconds = time.perf_counter() - started
    return out


def _seed_datasets(sizes: Sizes, people: People, rows: _Copy, log: _Log, ids: dict[str, Iterator[int]],
                   rid: Iterator[int]) -> list[int]:
    versions: list[int] = []
    for d in range(sizes.datasets):
        owner = people.developers[d % DEVELOPERS]
        ts = log.now()
        name = f"dataset-{d:05d}"
        dataset_id = next(ids["dataset"])
        rows.add("registry_dataset", dataset_id, name, "Scale benchmark data", owner.pk, ts, ts)
        log.add(action="registry.dataset.create", actor=owner, obj=("registry.dataset", dataset_id, name),
                changes={"name": {"old": None, "new": name}}, request_id=f"seed-{next(rid)}")
        parent = None
        for v in (1, 2):
            dsv = next(ids["dsv"])
            digest = hashlib.sha256(f"{name}@{v}".encode()).hexdigest()
            rows.add("registry_datasetversion", dsv, dataset_id, v, "", f"s3://bench/{name}/v{v}.parquet", digest,
                     1_000_000, 50_000, json.dumps([{"name": "x", "type": "float"}]), "label", "1",
                     json.dumps(["sex"]), "", "seeded", "CC-BY-4.0", owner.pk, ts, ts)
            if parent is not None:
                rows.add("registry_datasetversion_parents", dsv, parent)
            log.add(action="registry.datasetversion.create", actor=owner,
                    obj=("registry.datasetversion", dsv, f"{name}@{v}"),
                    changes={"sha256": {"old": None, "new": digest}, "version": {"old": None, "new": v}},
                    request_id=f"seed-{next(rid)}")
            versions.append(dsv)
            parent = dsv
    return versions


def _seed_model(m: int, people: People, policy: Any, artifact_sha: str, dataset_versions: list[int],
                rows: _Copy, log: _Log, ids: dict[str, Iterator[int]], rid: Iterator[int], *, quota: int,
                out: Seeded) -> None:
    from audit import chain
    from governance import policies

    owner = people.developers[m % DEVELOPERS]
    helper = people.developers[(m + 1) % DEVELOPERS]
    tier = TIERS[m % len(TIERS)]
    name = f"model-{m:05d}"
    model_id = next(ids["model"])
    ts = log.now()
    used = 0

    def entry(action: str, obj: tuple[str, int, str], changes: dict[str, Any], actor: Any = owner) -> None:
        nonlocal used
        log.add(action=action, actor=actor, obj=obj, changes=changes, request_id=f"seed-{next(rid)}")
        used += 1

    tags = [f"team-{m % 50}", UNITS[m % len(UNITS)]]
    rows.add("registry_registeredmodel", model_id, name, f"Model {m}", "Seeded for the scale benchmark", owner.pk,
             UNITS[m % len(UNITS)], "Scoring", "", tier, "minimal", json.dumps(tags), ts, ts)
    rows.add("registry_registeredmodel_developers", model_id, helper.pk)
    model_ref = ("registry.registeredmodel", model_id, name)
    entry("registry.registeredmodel.create", model_ref,
          {"name": {"old": None, "new": name}, "risk_tier": {"old": None, "new": tier},
           "tags": {"old": None, "new": tags}, "owner": {"old": None, "new": owner.pk},
           "developers": {"old": None, "new": [helper.pk]}})
    # The record separation of duties reads: the owner and the developer since the model's registration, each
    # spell with the entry the registry service writes (the database refuses the row without it).
    for person, role in ((owner, "owner"), (helper, "developer")):
        spell = next(ids["personnel"])
        rows.add("registry_modelpersonnel", spell, model_id, person.pk, role, ts, None)
        entry("registry.modelpersonnel.start", ("registry.modelpersonnel", spell, f"{name}: {person.username}"),
              {"model": {"old": None, "new": model_id}, "role": {"old": None, "new": role},
               "started_at": {"old": None, "new": chain.jsonable(ts)}, "user": {"old": None, "new": person.pk}})
    out.model_names.append(name)

    # Versions 5 and 10 of each model are asked to staging and production; outcomes vary by model.
    targets = {5: "staging", 10: "production"}
    outcomes = {v: _OUTCOMES[(m + v) % len(_OUTCOMES)] for v in targets}
    version_refs: list[tuple[str, int, str]] = []
    parent = None
    for v in range(1, VERSIONS_PER_MODEL + 1):
        vid = next(ids["version"])
        vts = log.now()
        ref = ("registry.modelversion", vid, f"{name} v{v}")
        version_refs.append(ref)
        stage = targets[v] if outcomes.get(v) == "approved" else "none"
        rows.add("registry_modelversion", vid, model_id, v, "", stage, ARTIFACT_NAME, artifact_sha, len(ARTIFACT),
                 "skops", FRAMEWORKS[m % len(FRAMEWORKS)], "1.5.0", json.dumps({"C": 1.0}),
                 json.dumps({"roc_auc": 0.8}), "https://git.example/models", f"{vid:040x}", "3.11",
                 json.dumps({"scikit-learn": "1.5.0"}), parent, owner.pk, vts, vts, None if stage == "none" else vts,
                 json.dumps({}))
        dsv = dataset_versions[(m * VERSIONS_PER_MODEL + v) % len(dataset_versions)]
        rows.add("registry_modelversion_training_datasets", vid, dsv)
        rows.add("registry_modelversion_evaluation_datasets", vid,
                 dataset_versions[(m * VERSIONS_PER_MODEL + v + 1) % len(dataset_versions)])
        entry("registry.modelversion.create", ref,
              {"artifact_sha256": {"old": None, "new": artifact_sha}, "version": {"old": None, "new": v},
               "parent": {"old": None, "new": parent}, "model": {"old": None, "new": model_id},
               "stage": {"old": None, "new": "none"}, "created_by": {"old": None, "new": owner.pk}})
        out.version_ids.append(vid)
        parent = vid

    for v, target in targets.items():
        vid = out.version_ids[-VERSIONS_PER_MODEL + v - 1]
        version_ref = version_refs[v - 1]
        rule, digest = _policy_freeze(policy, target, tier)
        req = next(ids["request"])
        status = outcomes[v]
        rts = log.now()
        decided = rts + dt.timedelta(hours=2) if status != "pending" else None
        rows.add("governance_promotionrequest", req, vid, target, "Seeded request", owner.pk, status, False,
                 policy.name, policy.version, json.dumps(rule), digest, rts, decided or rts, decided,
                 rts + policies.duration(rule, "request_ttl_days"), json.dumps([]), json.dumps({}), "")
        req_ref = ("governance.promotionrequest", req, f"Request #{req}: version {vid} to {target}")
        entry("governance.promotionrequest.create", req_ref,
              {"status": {"old": None, "new": "pending"}, "target_stage": {"old": None, "new": target},
               "version": {"old": None, "new": vid}, "requested_by": {"old": None, "new": owner.pk}})
        out.request_ids.append(req)
        slots = [(role, i) for role, n in rule["approvals"].items() for i in range(n)]
        if status == "approved":
            given = slots
        elif status in ("rejected", "pending"):
            given = slots[:1] if len(slots) > 1 or status == "rejected" else []
        else:
            given = []
        for role, i in given:
            approver = {"validator": people.validators[i % 2], "risk_officer": people.risk,
                        "compliance_officer": people.compliance}[role]
            decision = "reject" if status == "rejected" else "approve"
            aid = next(ids["approval"])
            ats = log.now()
            rows.add("governance_approval", aid, req, approver.pk, role, decision, "seeded", artifact_sha,
                     json.dumps({}), ats, None, "", ats + policies.duration(rule, "approval_valid_hours"))
            entry(f"governance.approval.{decision}",
                  ("governance.approval", aid, f"{decision} by {approver.pk} as {role} on request {req}"),
                  {"decision": {"old": None, "new": decision}, "role": {"old": None, "new": role},
                   "request": {"old": None, "new": req}, "approver": {"old": None, "new": approver.pk}}, approver)
        if status != "pending":
            entry(_REQUEST_ACTIONS[status], req_ref, {"status": {"old": "pending", "new": status}})
        if status == "approved":
            entry("registry.modelversion.stage_change", version_ref, {"stage": {"old": "none", "new": target}})
    # The rest of this model's share of the log: edits of its versions' descriptions.
    n = 0
    while used < quota:
        ref = version_refs[n % VERSIONS_PER_MODEL]
        entry("registry.modelversion.update", ref, {"description": {"old": f"edit {n - 1}", "new": f"edit {n}"}},
              helper if n % 3 else owner)
        n += 1


_REQUEST_ACTIONS = {"approved": "governance.promotionrequest.approve",
                    "rejected": "governance.promotionrequest.reject",
                    "withdrawn": "governance.promotionrequest.withdraw",
                    "expired": "governance.promotionrequest.expire"}
