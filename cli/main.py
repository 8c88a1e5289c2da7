"""`modelgov`: the command-line client for CI pipelines. It talks only to the REST API, with a token.

Configuration: MODELGOV_URL and MODELGOV_TOKEN in the environment, or `url` and `token` in
~/.config/modelgov/config.toml (or the file named by MODELGOV_CONFIG). Exit codes: 0 done, 1 error,
2 bad usage, 3 blocked (a gate fails, a request was rejected or a report failed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

OK, ERROR, USAGE, BLOCKED = 0, 1, 2, 3
# The report kinds, in the order the server's "generate all" uses (the client imports nothing of the server).
KINDS = ("bias", "explainability", "performance", "lineage")
INVENTORY_PAGE = 100  # models per page of the inventory: the most the server gives


class CliError(Exception):
    def __init__(self, message: str, code: int = ERROR) -> None:
        super().__init__(message)
        self.code = code


def load_config() -> tuple[str, str]:
    path = Path(os.environ.get("MODELGOV_CONFIG", Path.home() / ".config" / "modelgov" / "config.toml"))
    file_cfg: dict[str, Any] = {}
    if path.exists():
        try:
            file_cfg = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CliError(f"{path}: {exc}", USAGE) from exc
    url = os.environ.get("MODELGOV_URL") or file_cfg.get("url") or ""
    token = os.environ.get("MODELGOV_TOKEN") or file_cfg.get("token") or ""
    if not url or not token:
        raise CliError("set MODELGOV_URL and MODELGOV_TOKEN (or url/token in ~/.config/modelgov/config.toml)", USAGE)
    return url.rstrip("/"), token


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = self.session.request(method, f"{self.url}/api/v1/{path.lstrip('/')}", timeout=120, **kwargs)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                body = resp.json()
                detail = body.get("detail") if isinstance(body, dict) and "detail" in body else body
                rule = f" [{body['rule']}]" if isinstance(body, dict) and body.get("rule") else ""
            except ValueError:
                detail, rule = resp.text[:300], ""
            raise CliError(f"{method} {path}: HTTP {resp.status_code}: {detail}{rule}")
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else human)


def cmd_dataset_register(api: Api, args: argparse.Namespace) -> int:
    existing = api.call("GET", "datasets/?limit=1000").json()["results"]
    if args.name not in {d["name"] for d in existing}:
        api.json("POST", "datasets/", json={"name": args.name, "description": args.description or ""})
    path = Path(args.file)
    with path.open("rb") as fh:  # streamed: a data set may be larger than the memory of the machine running CI
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    data = {"target_column": args.target or "", "positive_label": args.positive_label or "",
            "sensitive_columns": args.sensitive or [], "expected_sha256": digest,
            "licence": args.licence or "", "provenance": args.provenance or ""}
    with path.open("rb") as fh:
        body = api.json("POST", f"datasets/{args.name}/versions/", data=data, files={"file": (path.name, fh)})
    _emit(args, body, f"dataset version #{body['id']}: {body['dataset']}@{body['version']} sha256 {body['sha256']}")
    return OK


def cmd_version_register(api: Api, args: argparse.Namespace) -> int:
    path = Path(args.artifact)
    data: dict[str, Any] = {"artifact_format": args.format,
                            "expected_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                            "code_repository": args.repo or "", "code_commit": args.commit or "",
                            "training_datasets": args.train or [], "evaluation_datasets": args.eval or []}
    for name in ("hyperparameters", "metrics", "packages"):
        value = getattr(args, name)
        if value:
            try:
                json.loads(value)
            except ValueError as exc:
                raise CliError(f"--{name} is not JSON: {exc}", USAGE) from exc
            data[name] = value
    if args.parent:
        data["parent"] = args.parent
    with path.open("rb") as fh:
        body = api.json("POST", f"models/{args.model}/versions/", data=data, files={"artifact": (path.name, fh)})
    summary = f"model version #{body['id']}: {body['model']} v{body['version']}"
    _emit(args, body, f"{summary} sha256 {body['artifact_sha256']}")
    return OK


def cmd_report_request(api: Api, args: argparse.Namespace) -> int:
    ids = []
    for kind in args.kind or list(KINDS):
        payload: dict[str, Any] = {"version": args.version, "kind": kind}
        if args.dataset:
            payload["evaluation_dataset"] = args.dataset
        ids.append(api.json("POST", "reports/", json=payload)["id"])
    results = [_wait(api, rid, args) for rid in ids] if args.wait else [api.json("GET", f"reports/{i}/") for i in ids]
    _emit(args, results, "\n".join(f"report #{r['id']} {r['kind']}: {r['status']} {r.get('verdict') or ''} "
                                   f"{r.get('error') or ''}".rstrip() for r in results))
    return BLOCKED if any(r["status"] == "failed" for r in results) else OK


def _wait(api: Api, report_id: int, args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    while True:
        body = api.json("GET", f"reports/{report_id}/")
        if body["status"] in ("succeeded", "failed"):
            return body
        if not args.json:
            print(f"  report #{report_id} {body['kind']}: {body['status']} {body['progress']}%", file=sys.stderr)
        if time.monotonic() > deadline:
            raise CliError(f"report #{report_id} still {body['status']} after {args.timeout}s")
        time.sleep(1)


def cmd_report_fetch(api: Api, args: argparse.Namespace) -> int:
    which = "json" if args.json_twin else "pdf"
    resp = api.call("GET", f"reports/{args.report}/{which}/")
    digest = hashlib.sha256(resp.content).hexdigest()
    if digest != resp.headers.get("X-Content-SHA256"):
        raise CliError(f"downloaded {which} does not match its digest header")
    Path(args.output).write_bytes(resp.content)
    _emit(args, {"file": args.output, "sha256": digest}, f"{args.output} sha256 {digest}")
    return OK


def cmd_promote(api: Api, args: argparse.Namespace) -> int:
    body = api.json("POST", "promotion-requests/",
                    json={"version": args.version, "target_stage": args.stage, "justification": args.justification})
    return _show_request(args, body)


def _show_request(args: argparse.Namespace, body: dict[str, Any]) -> int:
    failing = [g for g in body.get("gates", []) if not g["passed"]]
    lines = [f"request #{body['id']}: {body['model']} v{body['version_number']} -> {body['target_stage']}: "
             f"{body['status']}"]
    lines += [f"  gate {'PASS' if g['passed'] else 'FAIL'} {g['name']}: {g['detail']}" for g in body.get("gates", [])]
    if body.get("open_slots"):
        lines.append("  awaiting: " + ", ".join(f"{r} x{n}" for r, n in body["open_slots"].items()))
    _emit(args, body, "\n".join(lines))
    return BLOCKED if failing or body["status"] in ("rejected", "expired", "withdrawn") else OK


def cmd_request_show(api: Api, args: argparse.Namespace) -> int:
    return _show_request(args, api.json("GET", f"promotion-requests/{args.request}/"))


def cmd_request_decide(api: Api, args: argparse.Namespace) -> int:
    body = api.json("POST", f"promotion-requests/{args.request}/{args.decision}/",
                    json={"role": args.role, "comment": args.comment or ""})
    return _show_request(args, body)


def cmd_audit_export(api: Api, args: argparse.Namespace) -> int:
    import tarfile

    params = {k: v for k, v in (("from", args.from_seq), ("to", args.to_seq)) if v}
    resp = api.call("GET", "audit/export/", params=params)
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "bundle.tar.gz"
    archive.write_bytes(resp.content)
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="data")
    archive.unlink()
    _emit(args, {"dir": str(dest)}, f"exported the audit log to {dest}")
    return OK


def cmd_audit_verify(api: Api | None, args: argparse.Namespace) -> int:
    from audit.verifier import verify_bundle

    result = verify_bundle(args.bundle)
    _emit(args, result.__dict__, result.summary())
    return OK if result.ok else BLOCKED


def cmd_inventory(api: Api, args: argparse.Namespace) -> int:
    """The inventory as of an instant, read by the server from its log: every page of it (following `next`),
    or one model's part."""
    params: dict[str, Any] = {"as_of": args.as_of}
    if args.model:
        doc = api.json("GET", f"inventory/{quote(args.model, safe='')}/", params=params)
        _emit(args, doc, _inventory_text(doc, [doc["model"]]))
        return OK
    pages = [api.json("GET", "inventory/", params={**params, "limit": INVENTORY_PAGE})]
    while pages[-1]["next"] is not None:
        pages.append(api.json("GET", "inventory/", params={**params, "limit": INVENTORY_PAGE,
                                                           "after": pages[-1]["next"]}))
    _emit(args, pages, _inventory_text(pages[0], [m for page in pages for m in page["models"]]))
    return OK


def _inventory_text(doc: dict[str, Any], models: list[dict[str, Any]]) -> str:
    head, checkpoint = doc["head"], doc["checkpoint"]
    lines = [f"inventory as of {doc['as_of'] or 'now'}",
             f"head: entry #{head['seq']} recorded {head['ts']} hash {head['hash']}" if head else
             "head: no entry had been recorded yet",
             f"latest checkpoint: {checkpoint['size']} entries, root {checkpoint['root']}, signed {checkpoint['ts']}"
             if checkpoint else "latest checkpoint: none signed yet (no inclusion proofs)"]
    lines += [f"policy in force: {p['name']} v{p['version']} rules sha256 {p['rules_sha256']}"
              for p in doc["policies_in_force"]]
    lines += [f"role {r['code']}: {', '.join(r['holders']) or 'nobody'}" for r in doc["roles"]]
    if not models:
        return "\n".join([*lines, "", "no model was registered"])
    versions = [["MODEL", "VERSION", "STAGE", "SINCE", "OWNER", "PROMOTION ENTRY", "INCLUSION PROOF"]]
    requests_ = [["MODEL", "REQUEST", "VERSION", "TO", "STATUS", "DECIDED", "APPROVALS"]]
    for m in models:
        for v in m["versions"]:
            promotion = v.get("promotion")
            proof = "-" if promotion is None else (
                f"against the {promotion['inclusion']['tree_size']}-entry checkpoint" if promotion["inclusion"]
                else "pending: the checkpoint is older")
            versions.append([m["name"], f"v{v['version']}", v["stage"], v["stage_changed_at"] or "-",
                             m["owner"] or "-", f"#{promotion['seq']}" if promotion else "-", proof])
        for r in m["requests"]:
            approvals = ", ".join(f"{a['approver']} ({a['role']}) {a['decision']}" for a in r["approvals"])
            requests_.append([m["name"], f"#{r['id']}", f"v{r['version']}", r["target_stage"], r["status"],
                              r["decided_at"] or "-", approvals or "-"])
    lines += ["", *_columns(versions)]
    if len(requests_) > 1:
        lines += ["", *_columns(requests_)]
    return "\n".join(lines)


def _digest(path: Path) -> str:
    with path.open("rb") as fh:  # streamed: a batch may be larger than the memory of the machine sending it
        return hashlib.file_digest(fh, "sha256").hexdigest()


def cmd_batch_send(api: Api, args: argparse.Namespace) -> int:
    path = Path(args.file)
    fmt = args.format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    data = {"file_format": fmt, "row_id_column": args.row_id, "score_column": args.score,
            "prediction_column": args.prediction or "", "expected_sha256": _digest(path)}
    with path.open("rb") as fh:
        body = api.json("POST", f"versions/{args.version}/batches/", data=data, files={"file": (path.name, fh)})
    _emit(args, body, f"batch #{body['id']}: {body['row_count']} rows of version {body['version']} "
                      f"(number {body['number']}), merkle root {body['merkle_root']}")
    return OK


def cmd_batch_outcomes(api: Api, args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = {"label_column": args.label_column, "positive_label": args.positive_label or "",
            "expected_sha256": _digest(path)}
    with path.open("rb") as fh:
        body = api.json("POST", f"batches/{args.batch}/outcomes/", data=data, files={"file": (path.name, fh)})
    _emit(args, body, f"outcomes #{body['id']}: {body['row_count']} rows of batch {body['batch']}")
    return OK


def cmd_batch_receipt(api: Api, args: argparse.Namespace) -> int:
    body = api.json("GET", f"batches/{args.batch}/rows/{args.row}/receipt/")
    Path(args.output).write_text(json.dumps(body, indent=2))
    print(f"receipt for row {args.row} of batch {args.batch} written to {args.output}; check it offline with "
          f"python -m audit.verifier --receipt {args.output} --key PEM")
    return OK


def cmd_monitoring_show(api: Api, args: argparse.Namespace) -> int:
    body = api.json("GET", f"versions/{args.version}/monitoring/")
    lines = [f"version {body['version']} ({body['stage']}): {body['state']}"]
    lines += [f"  evaluation #{e['id']} {e['created_at'][:19]} {e['status']} {e['colour'] or '-'} rows {e['rows']}"
              for e in body["evaluations"]]
    lines += [f"  breach #{b['id']} {b['colour']}: {b['consequence']}"
              + (f" (request #{b['request']})" if b["request"] else "") for b in body["breaches"]]
    _emit(args, body, "\n".join(lines))
    return BLOCKED if body["state"] == "red" else OK


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="modelgov", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="group", required=True)
    ds = sub.add_parser("dataset").add_subparsers(dest="cmd", required=True)
    reg = ds.add_parser("register")
    reg.add_argument("name")
    reg.add_argument("file")
    reg.add_argument("--target", help="the label column (none for data that is only explained)")
    reg.add_argument("--positive-label", help="the target's value that is the positive class (default: 1 of a 0/1 "
                                              "column)")
    reg.add_argument("--sensitive", action="append")
    reg.add_argument("--licence")
    reg.add_argument("--provenance")
    reg.add_argument("--description")
    reg.set_defaults(func=cmd_dataset_register)
    ver = sub.add_parser("version").add_subparsers(dest="cmd", required=True)
    vr = ver.add_parser("register")
    vr.add_argument("model")
    vr.add_argument("artifact")
    vr.add_argument("--format", default="skops", choices=["skops", "onnx", "joblib", "pickle"])
    vr.add_argument("--train", type=int, action="append")
    vr.add_argument("--eval", type=int, action="append")
    vr.add_argument("--parent", type=int)
    vr.add_argument("--hyperparameters")
    vr.add_argument("--metrics")
    vr.add_argument("--packages")
    vr.add_argument("--repo")
    vr.add_argument("--commit")
    vr.set_defaults(func=cmd_version_register)
    rep = sub.add_parser("report").add_subparsers(dest="cmd", required=True)
    rr = rep.add_parser("request")
    rr.add_argument("version", type=int)
    rr.add_argument("--kind", action="append", choices=KINDS)
    rr.add_argument("--dataset", type=int)
    rr.add_argument("--wait", action="store_true")
    rr.add_argument("--timeout", type=int, default=1800)
    rr.set_defaults(func=cmd_report_request)
    rf = rep.add_parser("fetch")
    rf.add_argument("report", type=int)
    rf.add_argument("-o", "--output", required=True)
    rf.add_argument("--json-twin", action="store_true", help="fetch the metrics JSON instead of the PDF")
    rf.set_defaults(func=cmd_report_fetch)
    pr = sub.add_parser("promote")
    pr.add_argument("version", type=int)
    pr.add_argument("--stage", required=True, choices=["staging", "production"])
    pr.add_argument("--justification", required=True)
    pr.set_defaults(func=cmd_promote)
    req = sub.add_parser("request").add_subparsers(dest="cmd", required=True)
    rs = req.add_parser("show")
    rs.add_argument("request", type=int)
    rs.set_defaults(func=cmd_request_show)
    for decision in ("approve", "reject"):
        rd = req.add_parser(decision)
        rd.add_argument("request", type=int)
        rd.add_argument("--role", required=True, choices=["validator", "risk_officer", "compliance_officer"])
        rd.add_argument("--comment")
        rd.set_defaults(func=cmd_request_decide, decision=decision)
    au = sub.add_parser("audit").add_subparsers(dest="cmd", required=True)
    ae = au.add_parser("export")
    ae.add_argument("dest")
    ae.add_argument("--from", dest="from_seq", type=int)
    ae.add_argument("--to", dest="to_seq", type=int)
    ae.set_defaults(func=cmd_audit_export)
    av = au.add_parser("verify", help="check an exported bundle locally with the standalone verifier")
    av.add_argument("bundle")
    av.set_defaults(func=cmd_audit_verify, offline=True)
    inv = sub.add_parser("inventory", help="what was registered, in which stage, approved by whom, as of an instant")
    inv.add_argument("--as-of", required=True, metavar="T",
                     help="ISO 8601 with its UTC offset, such as 2026-03-31T23:59:59Z")
    inv.add_argument("--model", metavar="NAME", help="only this model (by the name it had then)")
    # Here as well as before the command: `modelgov inventory --as-of T --json` reads as the docs write it.
    inv.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    inv.set_defaults(func=cmd_inventory)
    ba = sub.add_parser("batch", help="production batches of a version, their outcomes and row receipts")
    bsub = ba.add_subparsers(dest="cmd", required=True)
    bs = bsub.add_parser("send")
    bs.add_argument("version", type=int)
    bs.add_argument("file")
    bs.add_argument("--format", choices=["csv", "parquet"], help="default: from the file's suffix")
    bs.add_argument("--row-id", default="row_id")
    bs.add_argument("--score", default="score")
    bs.add_argument("--prediction")
    bs.set_defaults(func=cmd_batch_send)
    bo = bsub.add_parser("outcomes")
    bo.add_argument("batch", type=int)
    bo.add_argument("file")
    bo.add_argument("--label-column", default="label")
    bo.add_argument("--positive-label")
    bo.set_defaults(func=cmd_batch_outcomes)
    br = bsub.add_parser("receipt")
    br.add_argument("batch", type=int)
    br.add_argument("row", type=int, help="the row's index in the batch, from 0")
    br.add_argument("-o", "--output", required=True)
    br.set_defaults(func=cmd_batch_receipt)
    mo = sub.add_parser("monitoring", help="a version's monitoring state over time (exit 3 when red)")
    mo.add_argument("version", type=int)
    mo.set_defaults(func=cmd_monitoring_show)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        api = None if getattr(args, "offline", False) else Api(*load_config())
        return int(args.func(api, args))
    except CliError as exc:
        print(f"modelgov: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"modelgov: {exc}", file=sys.stderr)
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
