"""Allowlist / denylist classification of pickle globals."""

from __future__ import annotations

import pytest

from scanning.scanners.base import Category, Severity
from scanning.scanners.pickle_rules import ALLOW, DENY_MODULES, DENY_PAIRS, Decision, classify


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_qtensor"),
        ("torch._utils", "_rebuild_sparse_tensor"),
        ("torch._utils", "_rebuild_wrapper_subclass"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch", "FloatStorage"),
        ("torch", "per_channel_affine"),
        ("torch", "bfloat16"),
        ("torch.nn.parameter", "Parameter"),
        ("collections", "OrderedDict"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("__builtin__", "set"),
        ("copy_reg", "_reconstructor"),
        ("_codecs", "encode"),
        ("uuid", "UUID"),
        ("datetime", "datetime"),
        ("pathlib", "PosixPath"),
        ("argparse", "Namespace"),
        ("re", "_compile"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("transformers.training_args", "TrainingArguments"),
        ("transformers.trainer_utils", "IntervalStrategy"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("torch.nn.modules.linear", "Linear"),
    ],
)
def test_allowed(module: str, name: str) -> None:
    assert classify(module, name).decision is Decision.ALLOW


@pytest.mark.parametrize(
    ("module", "name", "category", "severity"),
    [
        ("os", "system", Category.PROCESS, Severity.CRITICAL),
        ("posix", "system", Category.PROCESS, Severity.CRITICAL),
        ("subprocess", "Popen", Category.PROCESS, Severity.CRITICAL),
        ("builtins", "eval", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("builtins", "getattr", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("__builtin__", "eval", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("commands", "getoutput", Category.PROCESS, Severity.CRITICAL),
        ("socket", "socket", Category.NETWORK, Severity.HIGH),
        ("requests.api", "get", Category.NETWORK, Severity.HIGH),
        ("builtins", "open", Category.FILESYSTEM, Severity.HIGH),
        ("_io", "FileIO", Category.FILESYSTEM, Severity.HIGH),
        ("shutil", "rmtree", Category.FILESYSTEM, Severity.HIGH),
        ("os", "unlink", Category.FILESYSTEM, Severity.HIGH),
        ("pathlib", "Path.write_bytes", Category.FILESYSTEM, Severity.HIGH),
        ("torch", "load", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("torch.serialization", "load", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("numpy", "load", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("joblib", "load", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("pickle", "loads", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("operator", "methodcaller", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("sys", "modules", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("importlib", "import_module", Category.CODE_EXECUTION, Severity.CRITICAL),
        ("torch", "os.system", Category.OBFUSCATION, Severity.CRITICAL),
        ("collections", "OrderedDict.__class__", Category.OBFUSCATION, Severity.CRITICAL),
        ("torch.serialization", "pickle.loads", Category.OBFUSCATION, Severity.CRITICAL),
        ("numpy", "__dict__", Category.OBFUSCATION, Severity.CRITICAL),
        ("torch", "jit.load", Category.CODE_EXECUTION, Severity.CRITICAL),
    ],
)
def test_denied(module: str, name: str, category: Category, severity: Severity) -> None:
    c = classify(module, name)
    assert c.decision is Decision.DENY, c
    assert (c.category, c.severity) == (category, severity), c


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("__main__", "MyModel"),
        ("mypackage", "Thing"),
        ("sklearn.utils", "some_function"),  # functions under sklearn are not allowed, only classes
        ("torch", "something_new"),
        ("builtins", "print"),
        ("collections", "OrderedDict.fromkeys"),  # dotted but harmless target: still not on the list
        ("__torch__", "M"),  # TorchScript class names only inside TorchScript archives
        ("operator", "add"),
    ],
)
def test_unknown(module: str, name: str) -> None:
    assert classify(module, name).decision is Decision.UNKNOWN


def test_torchscript_names_only_in_torchscript_context() -> None:
    assert classify("__torch__.torch.nn.modules.linear", "Linear", torchscript=True).decision is Decision.ALLOW
    assert classify("torch.jit._pickle", "build_intlist", torchscript=True).decision is Decision.ALLOW
    assert classify("torch.jit._pickle", "build_intlist").decision is Decision.UNKNOWN
    assert classify("__torch__", "os.system", torchscript=True).decision is Decision.DENY


def test_lists_are_disjoint_and_exact() -> None:
    assert not (ALLOW & set(DENY_PAIRS))
    for module, name in ALLOW:
        assert " " not in name and name
        # an exact allow inside a denied module (types.SimpleNamespace) must win over the module rule
        if module in DENY_MODULES:
            assert classify(module, name).decision is Decision.ALLOW
