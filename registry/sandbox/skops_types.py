"""The skops types the registry trusts: an explicit list of fully qualified names, and the check of a file against it.

Django-free: the sandboxed child checks the file again with the same code before it loads anything.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Every name is a data type or an estimator whose loading constructs data: never a function, never a module
# prefix. sklearn's tree structures (Tree, TreePredictor) are here although skops does not trust them by
# default: a crafted node array can crash the process that predicts with it, and that process is the sandbox.
DEFAULT_TRUSTED_TYPES: tuple[str, ...] = (
    # containers and scalars skops writes for plain data
    "builtins.bool", "builtins.dict", "builtins.float", "builtins.int", "builtins.list", "builtins.set",
    "builtins.slice", "builtins.str", "builtins.tuple",
    # numpy arrays, dtypes and random state
    "numpy.dtype", "numpy.ndarray",
    "numpy.bool", "numpy.bool_", "numpy.float16", "numpy.float32", "numpy.float64", "numpy.int8", "numpy.int16",
    "numpy.int32", "numpy.int64", "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64", "numpy.str_",
    "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator",
    # scipy sparse containers
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._csr.csr_array", "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._csc.csc_array", "scipy.sparse._coo.coo_matrix", "scipy.sparse._coo.coo_array",
    # pipelines, wrappers and decision thresholds
    "sklearn.pipeline.Pipeline", "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.model_selection._classification_threshold.FixedThresholdClassifier",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration", "sklearn.isotonic.IsotonicRegression",
    "sklearn.utils._metadata_requests.MetadataRequest", "sklearn.utils._metadata_requests.MethodMetadataRequest",
    # transformers
    "sklearn.preprocessing._encoders.OneHotEncoder", "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._data.StandardScaler", "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.RobustScaler", "sklearn.preprocessing._discretization.KBinsDiscretizer",
    "sklearn.preprocessing._label.LabelEncoder", "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.impute._base.SimpleImputer", "sklearn.impute._base.MissingIndicator",
    # a ColumnTransformer's "passthrough"; a function given to it would be a FunctionNode, refused unless trusted
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    # classifiers
    "sklearn.linear_model._logistic.LogisticRegression", "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier", "sklearn.dummy.DummyClassifier",
    "sklearn.naive_bayes.GaussianNB",
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # the loss and link objects boosting models keep
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss.link.Interval", "sklearn._loss.link.LogitLink", "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.IdentityLink",
    "sklearn.linear_model._sgd_fast.Hinge", "sklearn.linear_model._sgd_fast.ModifiedHuber",
)

# Modules whose every name is code, and the builtins that are data: an operator cannot trust these names,
# whatever the setting says (a function that runs what it is given is never data).
NEVER_MODULES = ("builtins", "operator", "functools", "importlib", "os", "posix", "nt", "subprocess", "types",
                 "sys", "shutil", "pickle", "marshal", "runpy", "code", "codeop", "ctypes", "socket", "io",
                 "pathlib", "tempfile", "multiprocessing", "threading", "signal", "pty", "inspect", "gc",
                 "webbrowser", "urllib", "http", "joblib", "dill", "cloudpickle", "skops")
DATA_BUILTINS = frozenset(t for t in DEFAULT_TRUSTED_TYPES if t.startswith("builtins."))
# skops node kinds that bind or wrap a callable (a bound method, functools.partial, operator getters): refused
# whatever the names in them. A plain function (FunctionNode) passes only if an operator trusted its name.
CALLABLE_LOADERS = frozenset({"MethodNode", "PartialNode", "OperatorFuncNode"})
SKOPS_LOADERS = frozenset({
    "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "BytesNode", "BytearrayNode", "SliceNode",
    "TypeNode", "ConstructorFromReduceNode", "ObjectNode", "JsonNode", "NdArrayNode", "MaskedArrayNode",
    "DTypeNode", "RandomStateNode", "RandomGeneratorNode", "SparseMatrixNode", "TreeNode", "LossNode",
    "CachedNode", "FunctionNode", *CALLABLE_LOADERS,
})
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 200


class SkopsRefused(ValueError):
    """The file is not a skops model the registry may load; the message names what is wrong."""


def never_trusted(name: str) -> bool:
    module = name.rsplit(".", 1)[0] if "." in name else name
    root = module.split(".", 1)[0]
    if root == "builtins":
        return name not in DATA_BUILTINS
    return root in NEVER_MODULES


def trusted_types(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The default list and an operator's additions, sorted; an addition that is code is refused."""
    added = [str(t).strip() for t in extra if str(t).strip()]
    bad = sorted(t for t in added if never_trusted(t) or "." not in t or t.endswith("."))
    if bad:
        raise ValueError(f"these names cannot be trusted (code, a module prefix, or not fully qualified): "
                         f"{', '.join(bad)}")
    return tuple(sorted(set(DEFAULT_TRUSTED_TYPES) | set(added)))


def digest(types: Iterable[str]) -> str:
    """SHA-256 of the sorted names, one a line: what a report's cover names."""
    return hashlib.sha256("".join(f"{t}\n" for t in sorted(set(types))).encode()).hexdigest()


def _walk(node: Any, names: set[str], loaders: set[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SkopsRefused("the skops schema is nested deeper than any model needs")
    if isinstance(node, dict):
        module, cls = node.get("__module__"), node.get("__class__")
        if module is not None or cls is not None:
            if not isinstance(module, str) or not isinstance(cls, str):
                raise SkopsRefused("the skops schema names a type that is not a string")
            names.add(f"{module}.{cls}")
            loader = node.get("__loader__")
            if not isinstance(loader, str) or loader not in SKOPS_LOADERS:
                raise SkopsRefused(f"the skops schema uses an unknown loader {str(loader)[:60]!r}")
            loaders.add(loader)
        for value in node.values():
            _walk(value, names, loaders, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _walk(value, names, loaders, depth + 1)


def schema_of(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise SkopsRefused("the skops schema is larger than any model needs")
            raw = zf.read(info)
    except KeyError as exc:
        raise SkopsRefused("the file is not a skops file: schema.json is missing") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise SkopsRefused(f"the skops archive is corrupt: {exc}") from exc
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SkopsRefused(f"the skops schema is not JSON: {str(exc)[:200]}") from exc


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")


def types_in(path: Path) -> tuple[set[str], set[str]]:
    """Every type name and loader the file's schema names, read without importing or constructing anything."""
    schema = schema_of(path)
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise SkopsRefused("the skops schema holds no object")
    names: set[str] = set()
    loaders: set[str] = set()
    _walk(schema, names, loaders, 0)
    return names, loaders


def check(path: Path, trusted: Iterable[str]) -> set[str]:
    """Refuse a file naming any type outside `trusted` or holding a callable; returns the names it uses."""
    names, loaders = types_in(path)
    allowed = set(trusted)
    refused = sorted(n for n in names if n not in allowed)
    if refused:
        raise SkopsRefused(f"the skops file contains types that are not trusted: {', '.join(refused)}"[:2000])
    callables = sorted(loaders & CALLABLE_LOADERS)
    if callables:
        raise SkopsRefused(f"the skops file holds functions or methods ({', '.join(callables)}), which are never "
                           "loaded")
    return names
