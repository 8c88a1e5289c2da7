"""The sandbox: crafted skops files refused by name and never run, and a child that cannot reach the network, read
a private file, or signal the server; registration proves a file is a model before storing anything."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audit import writer
from audit.context import audit_context, user_actor
from registry.models import ModelVersion
from registry.sandbox import skops_types, wire
from registry.sandbox.runner import Limits, SandboxError, Session, trusted_types
from reports.models import ReportStatus
from reports.services import report_request
from tests import sandbox_models
from tests.factories import csv_bytes, make_dataset_version, make_model, skops_bytes

pytestmark = pytest.mark.django_db

RAN = "PAYLOAD-RAN"


# -- crafted skops files, built by hand in skops's own schema format ----------------------------------------------

def _json(value: Any) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(value),
            "is_json": True}


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _empty_dict() -> dict[str, Any]:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {},
            "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []}}


def _call(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A node skops constructs by calling module.name(*args): a "reduce" with the constructor named in the file."""
    return {"__class__": name, "__module__": module, "__loader__": "LossNode", "__reduce__": {"args": _tuple(*args)},
            "content": _empty_dict()}


def _function(module: str, name: str) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _code(marker: Path) -> str:
    return (f"import os\ntry:\n    open({str(marker)!r}, 'w').write('x')\nexcept OSError:\n    pass\n"
            f"os.write(2, b'{RAN}')")


PAYLOADS = {
    "builtins.exec": lambda m: _call("builtins", "exec", _json(_code(m))),
    "builtins.eval": lambda m: _call("builtins", "eval", _json(f"exec({_code(m)!r})")),
    "builtins.getattr": lambda m: _call("builtins", "getattr", _call("builtins", "__import__", _json("os")),
                                        _json("system")),
    "builtins.__import__": lambda m: _call("builtins", "__import__", _json("this")),
    "operator.attrgetter": lambda m: {"__class__": "attrgetter", "__module__": "operator",
                                      "__loader__": "OperatorFuncNode", "attrs": _tuple(_json("system"))},
    "functools.partial": lambda m: {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
                                    "content": {"func": _function("os", "system"),
                                                "args": _tuple(_json(f"touch {m}; echo {RAN} >&2")),
                                                "kwds": _empty_dict(), "namespace": _json(None)}},
    "importlib.import_module": lambda m: _call("importlib", "import_module", _json("this")),
    "os.system": lambda m: _call("os", "system", _json(f"touch {m}; echo {RAN} >&2")),
}
LIVE = ("builtins.exec", "builtins.eval", "os.system")  # those whose loading, trusted, writes the marker


def crafted(name: str, marker: Path) -> bytes:
    """A real fitted estimator's skops file with one attribute replaced by the payload."""
    src = zipfile.ZipFile(io.BytesIO(skops_bytes()))
    schema = json.loads(src.read("schema.json"))
    schema["content"]["content"]["memory"] = PAYLOADS[name](marker)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for item in src.namelist():
            zf.writestr(item, json.dumps(schema) if item == "schema.json" else src.read(item))
    return out.getvalue()


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    # Writable by anyone, so that a payload that ran would leave its marker whatever user it ran as.
    path = Path(tempfile.mkdtemp(prefix="modelgov-marker-"))
    path.chmod(0o777)
    yield path
    for f in path.iterdir():
        f.unlink()
    path.rmdir()


@pytest.fixture
def dev(make_user: Any) -> Any:
    return make_user("dev", "model developer")


@pytest.mark.parametrize("name", LIVE)
def test_the_crafted_payloads_are_live(name: str, marker_dir: Path) -> None:
    """Control: loaded the way reports/loading.py once did (every type trusted), the payload runs."""
    path = marker_dir / "m.skops"
    path.write_bytes(crafted(name, marker_dir / "marker"))
    code = "import skops.io as s, sys; s.load(sys.argv[1], trusted=s.get_untrusted_types(file=sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert (marker_dir / "marker").exists(), done.stderr[-500:]
    assert RAN in done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_a_crafted_skops_file_is_refused_at_registration_naming_the_type(api: Any, dev: Any, name: str,
                                                                       marker_dir: Path) -> None:
    make_model(dev, "pd")
    api.force_authenticate(dev)
    before = set(default_storage.listdir("artifacts")[1]) if default_storage.exists("artifacts") else set()
    resp = api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile(
        "m.skops", crafted(name, marker_dir / "marker")), "artifact_format": "skops"}, format="multipart")
    assert resp.status_code == 400, resp.content
    assert name in resp.json()["detail"]
    assert "not trusted" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0
    after = set(default_storage.listdir("artifacts")[1]) if default_storage.exists("artifacts") else set()
    assert after == before
    assert not (marker_dir / "marker").exists()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_sandboxed_loader_refuses_a_crafted_file_before_constructing_it(name: str, marker_dir: Path) -> None:
    """Registration bypassed: the file goes straight to the sandbox, whose child checks it again."""
    path = marker_dir / "m.skops"
    path.write_bytes(crafted(name, marker_dir / "marker"))
    session = Session(artifact=path, fmt="skops", limits=Limits.from_settings(), types=trusted_types())
    with pytest.raises(SandboxError, match=name.replace(".", r"\.")):
        session.open()
    assert not (marker_dir / "marker").exists()
    assert RAN not in session.stderr_tail


def test_a_version_written_past_registration_fails_its_report_and_never_runs(dev: Any, marker_dir: Path,
                                                                            django_capture_on_commit_callbacks: Any
                                                                            ) -> None:
    """Someone with a Django shell writes the row and the file themselves: the report's loader still refuses."""
    model = make_model(dev, "pd")
    data = make_dataset_version(dev, content=csv_bytes(60))
    content = crafted("builtins.exec", marker_dir / "marker")
    name = default_storage.save("artifacts/crafted.skops", io.BytesIO(content))
    with audit_context(actor=user_actor(dev), channel="system"), writer.atomic():
        # Its true digest, so that the loader's digest check passes and the child's own check of the types is what
        # refuses it.
        version = ModelVersion(model=model, version=1, artifact=name, artifact_format="skops", created_by=dev,
                               artifact_sha256=hashlib.sha256(content).hexdigest(), artifact_size=len(content))
        writer.save(version)
    with django_capture_on_commit_callbacks(execute=True), audit_context(actor=user_actor(dev), channel="system"):
        report = report_request(version=version, kind="bias", by=dev, evaluation_dataset=data)
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert "builtins.exec" in report.error and "not trusted" in report.error
    assert not (marker_dir / "marker").exists()


# -- what registration proves ---------------------------------------------------------------------------------------

def _register(api: Any, content: bytes, fmt: str = "skops", **fields: Any) -> Any:
    return api.post("/api/v1/models/pd/versions/", {"artifact": SimpleUploadedFile("m", content),
                                                    "artifact_format": fmt, **fields}, format="multipart")


def test_a_zip_holding_only_a_schema_is_not_a_model(api: Any, dev: Any) -> None:
    make_model(dev, "pd")
    api.force_authenticate(dev)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", zipfile.ZipFile(io.BytesIO(skops_bytes())).read("schema.json"))
    resp = _register(api, out.getvalue())
    assert resp.status_code == 400
    assert "could not be used as a model" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0


def test_an_onnx_file_with_no_graph_is_not_a_model(api: Any, dev: Any) -> None:
    import onnx
    from onnx import helper

    make_model(dev, "pd")
    api.force_authenticate(dev)
    empty = helper.make_model(helper.make_graph([], "empty", [], []))
    resp = _register(api, empty.SerializeToString(), "onnx")
    assert resp.status_code == 400
    assert "holds no model" in resp.json()["detail"]
    resp = _register(api, b"\x08\x07garbage", "onnx")
    assert resp.status_code == 400 and "not a valid ONNX model" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0
    assert onnx  # the import is the test's, the parsing the sandbox's


def test_a_model_expecting_other_columns_is_refused_naming_them(api: Any, dev: Any) -> None:
    make_model(dev, "pd")
    other = make_dataset_version(dev, "other", content=b"risk,sex,income\n0,male,10\n1,female,20\n")
    api.force_authenticate(dev)
    resp = _register(api, skops_bytes(), training_datasets=[other.pk])
    assert resp.status_code == 400
    assert "expects column(s) age, amount" in resp.json()["detail"]
    assert ModelVersion.objects.count() == 0


def test_registration_records_what_it_found(api: Any, dev: Any) -> None:
    make_model(dev, "pd")
    train = make_dataset_version(dev)
    api.force_authenticate(dev)
    resp = _register(api, skops_bytes(), training_datasets=[train.pk])
    assert resp.status_code == 201, resp.content
    check = ModelVersion.objects.get().artifact_check
    assert check["estimator"] == "Pipeline" and check["predict_proba"] is True
    assert check["feature_names"] == ["sex", "age", "amount"]
    assert check["sample"] == {"dataset_version": train.pk, "rows": 20}
    assert check["skops_trusted_types_sha256"] == skops_types.digest(trusted_types())
    assert check["isolation"]["network"].startswith("own network namespace")


def test_extra_trusted_types_extend_the_list_and_never_admit_code(api: Any, dev: Any) -> None:
    import skops.io as sio
    from sklearn.neighbors import KNeighborsClassifier

    knn = sio.dumps(KNeighborsClassifier(n_neighbors=1).fit(np.zeros((2, 3)), [0, 1]))
    make_model(dev, "pd")
    api.force_authenticate(dev)
    resp = _register(api, knn)
    assert resp.status_code == 400 and "sklearn.neighbors._classification.KNeighborsClassifier" in resp.json()[
        "detail"]
    extra = ["sklearn.neighbors._classification.KNeighborsClassifier"]
    with override_settings(REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES=extra):
        assert _register(api, knn).status_code == 201
        assert skops_types.digest(trusted_types()) != skops_types.digest(skops_types.DEFAULT_TRUSTED_TYPES)
    for bad in ("builtins.exec", "operator.attrgetter", "os.system", "sklearn", "posix.system", "functools.reduce"):
        with override_settings(REGISTRY_SKOPS_EXTRA_TRUSTED_TYPES=[bad]), pytest.raises(ImproperlyConfigured,
                                                                                         match=bad):
            trusted_types()


def test_the_default_list_holds_no_code_and_no_prefix() -> None:
    for name in skops_types.DEFAULT_TRUSTED_TYPES:
        assert not skops_types.never_trusted(name), name
        assert not name.endswith(".") and name.count(".") >= 1


# -- the child's isolation -----------------------------------------------------------------------------------------

def _observe(tmp_path: Path, model: Any) -> int:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(model))
    with Session(artifact=path, fmt="pickle", limits=Limits.from_settings(), types=trusted_types(),
                 trust_pickle=True) as session:
        spec, arrays = wire.frame_to_wire(pd.DataFrame({"a": [1.0, 2.0]}), "x")
        result, out = session.call("predict", {"columns": spec}, arrays)
    return int(wire.frame_from_wire(result["labels"], out, "y").iloc[0, 0])


def test_the_child_cannot_open_a_socket_to_the_host(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    try:
        port = server.getsockname()[1]
        assert _observe(tmp_path, sandbox_models.Reporter("connect", port)) == 0
        with pytest.raises(TimeoutError):
            server.accept()  # nothing came
    finally:
        server.close()


def _probe(tmp_path: Path, source: str) -> int:
    return _observe(tmp_path, sandbox_models.Probe(source))


def test_the_child_cannot_reach_a_unix_socket_of_the_host(tmp_path: Path) -> None:
    # A network namespace and Landlock leave named Unix sockets reachable: PostgreSQL's under /run/postgresql,
    # trusting local connections, would let a model's code rewrite any row. Here the server's socket is open to all.
    folder = Path(tempfile.mkdtemp(prefix="modelgov-unix-"))
    folder.chmod(0o777)
    path = folder / "db.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    server.settimeout(0.1)
    try:
        connect = (f"import socket\ntry:\n    socket.socket(socket.AF_UNIX).connect({str(path)!r})\n    result = 1\n"
                   "except OSError:\n    result = 0\n")
        assert _probe(tmp_path, connect) == 0
        with pytest.raises(TimeoutError):
            server.accept()  # nothing came
        pair = ("import socket\ntry:\n    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                f"    a.connect({str(path)!r})\n    result = 1\nexcept OSError:\n    result = 0\n")
        assert _probe(tmp_path, pair) == 0
        assert _probe(tmp_path, "import socket\ntry:\n    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n"
                                "    result = 1\nexcept OSError:\n    result = 0\n") == 0
        assert _probe(tmp_path, "result = 7") == 7  # the probe itself runs
    finally:
        server.close()
        path.unlink()
        folder.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="the user is changed only when the server runs as root")
def test_the_child_runs_as_nobody_and_cannot_read_a_private_file(tmp_path: Path) -> None:
    import pwd

    folder = Path(tempfile.mkdtemp(prefix="modelgov-secret-"))
    folder.chmod(0o755)
    secret, public = folder / "signing.key", folder / "public.txt"
    secret.write_text("secret")
    secret.chmod(0o600)
    public.write_text("not secret")
    public.chmod(0o644)
    try:
        assert _observe(tmp_path, sandbox_models.Reporter("uid")) == pwd.getpwnam("nobody").pw_uid
        assert _observe(tmp_path, sandbox_models.Reporter("read", str(secret))) == 0
        # Landlock: outside the code, even a world-readable file is out of reach.
        assert _observe(tmp_path, sandbox_models.Reporter("read", str(public))) == 0
        assert _observe(tmp_path, sandbox_models.Reporter("read", str(Path(sandbox_models.__file__)))) == 1
        assert _observe(tmp_path, sandbox_models.Reporter("signal", os.getpid())) == 0
    finally:
        secret.unlink()
        public.unlink()
        folder.rmdir()
    assert stat.S_IMODE(folder.parent.stat().st_mode) & 0o001


def test_a_child_that_crashes_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(sandbox_models.Crasher()))
    with Session(artifact=path, fmt="pickle", limits=Limits.from_settings(), types=trusted_types(),
                 trust_pickle=True) as session:
        spec, arrays = wire.frame_to_wire(pd.DataFrame({"a": np.zeros(60)}), "x")
        with pytest.raises(SandboxError, match="segmentation fault"):
            session.call("predict", {"columns": spec}, arrays)
        with pytest.raises(SandboxError, match="closed"):
            session.call("predict", {"columns": spec}, arrays)


def test_pickles_are_loaded_only_when_trusted_even_in_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(sandbox_models.Reporter("uid")))
    with pytest.raises(SandboxError, match="REGISTRY_TRUST_PICKLE"):
        Session(artifact=path, fmt="pickle", limits=Limits.from_settings(), types=trusted_types()).open()


# -- the wire format reads data, never code --------------------------------------------------------------------

def test_an_array_header_that_lies_about_its_size_is_refused() -> None:
    raw = wire.pack({}, {"a": np.zeros(4)})[2]
    assert wire.load_npy(raw).shape == (4,)
    head_end = raw.index(b"\n") + 1
    with pytest.raises(wire.WireError, match="does not match"):
        wire.load_npy(raw[:head_end].replace(b"(4,)", b"(9,)") + raw[head_end:])
    objects = io.BytesIO()
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="not data"):
        wire.load_npy(objects.getvalue())


def test_a_frame_survives_the_wire_as_it_was() -> None:
    frame = pd.DataFrame({"n": [1, 2, 3], "x": [0.5, np.nan, 2.0], "s": ["a", None, "é"], "b": [True, False, True]})
    spec, arrays = wire.frame_to_wire(frame, "x")
    back = wire.frame_from_wire(spec, arrays, "x", rows=3)
    pd.testing.assert_frame_equal(back, frame.assign(s=["a", np.nan, "é"]), check_dtype=False)
    assert list(back.dtypes.astype(str)) == ["int64", "float64", "object", "bool"]


def test_the_child_never_reads_a_search_path_entry_that_holds_the_project(tmp_path: Path) -> None:
    """A library that puts its working directory on sys.path in the zygote ("/", as importing the Celery app did)
    must not open the whole file system to the child."""
    from registry.sandbox import isolation

    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    read, list_only = isolation.readable_code(root, ["/", str(tmp_path), str(root), str(root / "pkg")])
    assert "/" not in read and str(tmp_path) not in read and str(root) not in read
    assert str(root / "pkg") in read and list_only == [str(root.resolve())]


def test_the_sandboxed_jobs_import_no_project_configuration() -> None:
    """The child's modules (the report jobs) must not import `config` (its package imports the Celery app)."""
    import subprocess
    import sys

    code = ("import sys; import reports.sandbox_jobs, registry.sandbox.child; "
            "print(sorted(m for m in sys.modules if m == 'config' or m.startswith(('config.', 'celery', 'django'))))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(Path.cwd())!r}); {code}"],
                         capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout
