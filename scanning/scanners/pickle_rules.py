"""Allowlist and categorized denylist of pickle globals, kept as data.

Every callable a pickle can reach is named by a ``(module, qualname)`` pair (GLOBAL, STACK_GLOBAL, INST).
:func:`classify` decides what such a pair means:

1. exact pair on the denylist            -> denied (category/severity of its group)
2. exact pair on the allowlist           -> allowed
3. the pair in the generated inventory   -> what the object really is (``pickle_inventory.json``, made by
   ``pickle_inventory_gen`` from the installed libraries): denied when it is (or subclasses) something that
   touches files/processes/network (``sklearn.datasets._base.NamedTemporaryFile`` *is*
   ``tempfile.NamedTemporaryFile``), allowed when proven inert (estimators, modules, arrays, dtypes…)
4. dunder or traversal tricks in a name  -> denied, obfuscation (``("torch", "os.system")``,
   ``("collections", "OrderedDict.__class__")``, ``__builtins__``…)
5. module (or a parent package) denied   -> denied
6. anything else                         -> unknown (the pickle scanner makes it ``suspicious``): a name is
   never allowed for how it looks (a CamelCase name under ``sklearn.`` may be a re-exported temp file)

The Python 2 compatibility mapping the real ``Unpickler`` applies (``__builtin__`` -> ``builtins``,
``commands`` -> ``subprocess``…) is applied first; the raw pair is also checked so neither spelling
can hide a denied callable.

Lists are exact: adding a pair here is a reviewed decision. Bump ``base.RULES_VERSION`` when changing.
"""

from __future__ import annotations

import _compat_pickle
import enum
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from scanning.scanners.base import Category, Severity


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Classification:
    decision: Decision
    category: Category = Category.CODE_EXECUTION
    severity: Severity = Severity.MEDIUM
    reason: str = ""  # group name / why
    module: str = ""  # after compat mapping
    name: str = ""
    real: str = ""  # what the object really is (defining module:qualname) when the inventory knows it


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, n) for n in names.split()}


# --------------------------------------------------------------------------------------------------
# ALLOWLIST: exact (module, qualname) pairs that only rebuild values.
# --------------------------------------------------------------------------------------------------

_TORCH_DTYPES = (
    "float32 float float64 double float16 half bfloat16 int8 uint8 int16 short int32 int int64 long bool"
    " complex32 complex64 complex128 cfloat cdouble chalf qint8 quint8 qint32 quint4x2 quint2x4"
    " float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2"
    " uint16 uint32 uint64 bits8 bits16 bits1x8 bits2x4 bits4x2"
    " int1 int2 int3 int4 int5 int6 int7 uint1 uint2 uint3 uint4 uint5 uint6 uint7"
)
_TORCH_STORAGES = (
    "FloatStorage DoubleStorage HalfStorage LongStorage IntStorage ShortStorage CharStorage ByteStorage"
    " BoolStorage BFloat16Storage ComplexFloatStorage ComplexDoubleStorage QUInt8Storage QInt8Storage"
    " QInt32Storage QUInt4x2Storage QUInt2x4Storage UntypedStorage TypedStorage"
)

ALLOW: frozenset[tuple[str, str]] = frozenset(
    # torch tensor/storage rebuild helpers (what torch.load(weights_only=True) allows)
    _pairs(
        "torch._utils",
        "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter _rebuild_parameter_with_state"
        " _rebuild_qtensor _rebuild_sparse_tensor _rebuild_sparse_csr_tensor _rebuild_nested_tensor"
        " _rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor _rebuild_xla_tensor"
        " _rebuild_mtia_tensor _rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass _rebuild_typed_storage",
    )
    | _pairs("torch._tensor", "_rebuild_from_type _rebuild_from_type_v2 Tensor")
    | _pairs("torch", "Size device dtype Tensor layout memory_format qscheme finfo iinfo Generator ScriptObject")
    # torch.Generator pickles as torch._C.Generator(device) + BUILD(state); quantized packed params as
    # torch.ScriptObject.__new__() + BUILD (the registered C++ class's __setstate__)
    | _pairs("torch._C", "Generator ScriptObject")
    | _pairs("torch", _TORCH_DTYPES)
    | _pairs("torch", _TORCH_STORAGES)
    | _pairs("torch.cuda", _TORCH_STORAGES)
    | _pairs("torch.storage", "TypedStorage UntypedStorage _StorageBase")
    # legacy tensor type classes (the oldest tar checkpoints name them)
    | _pairs("torch", _TORCH_STORAGES.replace("Storage", "Tensor"))
    | _pairs("torch.cuda", _TORCH_STORAGES.replace("Storage", "Tensor"))
    # layouts, memory formats and quantization schemes are pickled as torch attributes
    | _pairs("torch", "strided sparse_coo sparse_csr sparse_csc sparse_bsr sparse_bsc _mkldnn jagged")
    | _pairs("torch", "contiguous_format channels_last channels_last_3d preserve_format")
    | _pairs(
        "torch",
        "per_tensor_affine per_channel_affine per_tensor_symmetric per_channel_symmetric"
        " per_channel_affine_float_qparams",
    )
    | _pairs("torch.serialization", "_get_layout")
    | _pairs("torch.nn.parameter", "Parameter Buffer UninitializedParameter UninitializedBuffer")
    # hook handles kept by modules with registered hooks (a weak reference to the hooks dict, nothing else)
    | _pairs("torch.utils.hooks", "RemovableHandle")
    # python containers and value types
    | _pairs("collections", "OrderedDict defaultdict Counter deque")
    | _pairs(
        "builtins",
        "set frozenset slice complex bytearray bytes range object int float str bool dict list tuple"
        " Ellipsis NotImplemented",
    )
    | _pairs("copyreg", "_reconstructor __newobj__ __newobj_ex__")
    | _pairs("_codecs", "encode")  # protocol 2 spells bytes as _codecs.encode(str, 'latin1')
    | _pairs("uuid", "UUID SafeUUID")
    | _pairs("datetime", "datetime date time timedelta timezone tzinfo")
    | _pairs("decimal", "Decimal")
    | _pairs("fractions", "Fraction")
    | _pairs("pathlib", "Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath")
    | _pairs("argparse", "Namespace")
    | _pairs("random", "Random")  # random.Random() + setstate (a tuple of ints)
    # scoring=make_scorer(partial(fbeta_score, beta=2)): building a partial runs nothing; the wrapped function is
    # a global judged on its own, and a call of a partial object inside the pickle is an indirect call (reported)
    | _pairs("functools", "partial")
    | _pairs("types", "SimpleNamespace")
    | _pairs("re", "_compile compile")  # compiled patterns pickle as re._compile(pattern, flags)
    | _pairs("array", "array _array_reconstructor")
    | _pairs("zoneinfo", "ZoneInfo ZoneInfo._unpickle")  # pickles as getattr(ZoneInfo, '_unpickle')(key, 1)
    | _pairs("zoneinfo._zoneinfo", "ZoneInfo ZoneInfo._unpickle")
    | _pairs("time", "struct_time")
    | _pairs("http", "HTTPStatus HTTPMethod")  # enums (the http package is otherwise network access)
    | _pairs(
        "ipaddress",
        "IPv4Address IPv6Address IPv4Network IPv6Network IPv4Interface IPv6Interface ip_address ip_network"
        " ip_interface",
    )
    | _pairs("enum", "Enum IntEnum Flag IntFlag StrEnum")
    # numpy arrays, dtypes, scalars (numpy 1.x and 2.x module names)
    | _pairs("numpy.core.multiarray", "_reconstruct scalar")
    | _pairs("numpy._core.multiarray", "_reconstruct scalar")
    | _pairs("numpy.core.numeric", "_frombuffer")
    | _pairs("numpy._core.numeric", "_frombuffer")
    | _pairs("numpy", "ndarray dtype matrix vectorize")
    | _pairs("numpy.ma.core", "_mareconstruct MaskedArray")
    | _pairs("numpy.ma", "MaskedArray")
    | _pairs(
        "numpy",
        "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 longdouble"
        " complex64 complex128 clongdouble str_ bytes_ void datetime64 timedelta64 object_",
    )
    | _pairs(
        "numpy.dtypes",
        "BoolDType Int8DType Int16DType Int32DType Int64DType UInt8DType UInt16DType UInt32DType UInt64DType"
        " Float16DType Float32DType Float64DType LongDoubleDType Complex64DType Complex128DType StrDType"
        " BytesDType VoidDType ObjectDType DateTime64DType TimeDelta64DType StringDType",
    )
    # numpy random generators / bit generators (rng_state.pth, sklearn random_state)
    | _pairs("numpy.random._pickle", "__randomstate_ctor __bit_generator_ctor __generator_ctor")
    | _pairs("numpy.random", "__RandomState_ctor RandomState Generator")
    | _pairs("numpy.random.mtrand", "RandomState")
    | _pairs("numpy.random._generator", "Generator")
    | _pairs("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence SeedSequence BitGenerator")
    | _pairs("numpy.random._mt19937", "MT19937")
    | _pairs("numpy.random._pcg64", "PCG64 PCG64DXSM")
    | _pairs("numpy.random._philox", "Philox")
    | _pairs("numpy.random._sfc64", "SFC64")
    # numpy math ufuncs (pure functions of numbers; sklearn FunctionTransformer(np.log1p) pickles them)
    | _pairs(
        "numpy",
        "log log1p log2 log10 exp expm1 exp2 sqrt cbrt square abs absolute negative sign sin cos tan arcsin"
        " arccos arctan sinh cosh tanh arcsinh arccosh arctanh floor ceil rint trunc round clip maximum minimum"
        " add subtract multiply divide true_divide power reciprocal isnan isfinite nan_to_num mean median sum",
    )
    # scipy sparse matrices/arrays (sklearn text features, one-hot output)
    | {
        (f"scipy.sparse.{prefix}{fmt}", f"{fmt}_{kind}")
        for prefix in ("_", "")
        for fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil")
        for kind in ("matrix", "array")
    }
    # sklearn Cython trees/metrics rebuild helper: newObj(cls) == cls.__new__(cls)
    | {
        (m, "newObj")
        for m in (
            "sklearn.neighbors._kd_tree",
            "sklearn.neighbors._ball_tree",
            "sklearn.neighbors._binary_tree",
            "sklearn.metrics._dist_metrics",
        )
    }
    # joblib wrappers around numpy arrays (raw array bytes follow the wrapper in the stream)
    | _pairs("joblib.numpy_pickle", "NumpyArrayWrapper")
    | _pairs("joblib.numpy_pickle_compat", "NDArrayWrapper ZNDArrayWrapper")
    | _pairs("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")
    # Hugging Face training_args.bin / trainer state
    | _pairs(
        "transformers.training_args",
        "TrainingArguments OptimizerNames ParallelMode default_logdir",
    )
    | _pairs("transformers.training_args_seq2seq", "Seq2SeqTrainingArguments")
    | _pairs(
        "transformers.trainer_utils",
        "IntervalStrategy SchedulerType HubStrategy SaveStrategy EvaluationStrategy FSDPOption"
        " ShardedDDPOption ExplicitEnum",
    )
    | _pairs("transformers.utils.generic", "ExplicitEnum PaddingStrategy TensorType")
    | _pairs("transformers.debug_utils", "DebugOption")
    | _pairs("transformers.trainer_pt_utils", "AcceleratorConfig")
    | _pairs("transformers.trainer_callback", "TrainerState TrainerControl")
    | _pairs("transformers.generation.configuration_utils", "GenerationConfig")
    | _pairs("accelerate.utils.dataclasses", "DistributedType DeepSpeedPlugin DataLoaderConfiguration")
    | _pairs("accelerate.state", "PartialState AcceleratorState")
    # PyTorch Lightning checkpoints (.ckpt, e.g. Stable Diffusion): callback state and hyper-parameters
    | _pairs("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
    | _pairs("lightning.pytorch.callbacks.model_checkpoint", "ModelCheckpoint")
    | _pairs("pytorch_lightning.callbacks.early_stopping", "EarlyStopping")
    | _pairs("lightning.pytorch.callbacks.early_stopping", "EarlyStopping")
    | _pairs("pytorch_lightning.utilities.parsing", "AttributeDict")
    | _pairs("lightning_fabric.utilities.data", "AttributeDict")
    | _pairs("omegaconf.dictconfig", "DictConfig")
    | _pairs("omegaconf.listconfig", "ListConfig")
    | _pairs("omegaconf.base", "ContainerMetadata Metadata")
    | _pairs("omegaconf.nodes", "AnyNode StringNode IntegerNode FloatNode BooleanNode")
    | _pairs("typing", "Any")
)

# TorchScript archives name their own classes under __torch__ (resolved by the C++ loader, not imported)
TORCHSCRIPT_ALLOW: frozenset[tuple[str, str]] = frozenset(
    _pairs(
        "torch.jit._pickle",
        "build_intlist build_tensorlist build_doublelist build_boollist build_tensor_from_id restore_type_tag",
    )
)
TORCHSCRIPT_MODULE = "__torch__"

# --------------------------------------------------------------------------------------------------
# DENYLIST. Exact pairs first, then whole modules (a module entry covers its submodules).
# --------------------------------------------------------------------------------------------------

_CE = (Category.CODE_EXECUTION, Severity.CRITICAL)
_PR = (Category.PROCESS, Severity.CRITICAL)
_NET = (Category.NETWORK, Severity.HIGH)
_FS = (Category.FILESYSTEM, Severity.HIGH)

DENY_PAIRS: dict[tuple[str, str], tuple[Category, Severity, str]] = {}
DENY_MODULES: dict[str, tuple[Category, Severity, str]] = {}


def _deny_pairs(group: str, cat: tuple[Category, Severity], module: str, names: str) -> None:
    for n in names.split():
        DENY_PAIRS[(module, n)] = (cat[0], cat[1], group)


def _deny_modules(group: str, cat: tuple[Category, Severity], modules: str) -> None:
    for m in modules.split():
        DENY_MODULES[m] = (cat[0], cat[1], group)


# builtins that evaluate code, reach arbitrary attributes or modules, or read input
_deny_pairs(
    "builtin code execution",
    _CE,
    "builtins",
    "eval exec compile getattr setattr delattr __import__ globals locals vars breakpoint input help exit quit"
    " execfile apply reload memoryview super classmethod staticmethod property __build_class__ __loader__"
    " __spec__ __builtins__",
)
_deny_pairs("builtin file access", _FS, "builtins", "open file")
# interpreters, importers, nested deserializers (a pickle that loads another pickle/model)
_deny_modules(
    "code execution",
    _CE,
    "runpy code codeop importlib imp zipimport pkgutil pickle _pickle cPickle dill cloudpickle shelve marshal"
    " pickletools ctypes _ctypes cffi sys types inspect gc atexit site threading _thread bdb pdb cProfile"
    " profile _lsprof timeit trace doctest idlelib lib2to3 distutils setuptools pkg_resources ensurepip venv"
    " IPython jsonpickle yaml _yaml numexpr sympy jinja2 mako builtins.__dict__ __builtins__ torch.hub"
    " torch.package torch.utils.cpp_extension torch._inductor.codecache torch.utils.collect_env torch._dynamo"
    " torch.fx torch.testing torch.utils._config_module numpy.testing numpy.f2py numpy.distutils numpy.ctypeslib"
    " keras tensorflow tf_keras"
    " logging.config",
)
_deny_pairs("nested loader", _CE, "torch", "load jit _load from_file compile")
_deny_pairs("nested loader", _CE, "torch.serialization", "load _load _legacy_load")
_deny_pairs("nested loader", _CE, "torch.jit", "load _load script trace")
_deny_pairs("nested loader", _CE, "torch.jit._serialization", "load")
_deny_pairs("nested loader", _CE, "torch.storage", "_load_from_bytes")
_deny_pairs("nested loader", _CE, "torch._C", "_jit_pass_inline import_ir_module _import_ir_module_from_package")
_deny_pairs("nested loader", _CE, "numpy", "load loads fromfile loadtxt genfromtxt")
_deny_pairs("nested loader", _CE, "numpy.lib.npyio", "load")
_deny_pairs("nested loader", _CE, "numpy.lib._npyio_impl", "load")
_deny_pairs("nested loader", _CE, "numpy.lib.format", "read_array")
_deny_pairs("nested loader", _CE, "joblib", "load")
_deny_pairs("nested loader", _CE, "joblib.numpy_pickle", "load")
_deny_pairs("nested loader", _CE, "pandas", "read_pickle eval")
_deny_pairs("nested loader", _CE, "pandas.io.pickle", "read_pickle")
_deny_pairs("code execution", _CE, "operator", "attrgetter methodcaller")
_deny_pairs("code execution", _CE, "_operator", "attrgetter methodcaller")
_deny_pairs("code execution", _CE, "_functools", "reduce")
_deny_pairs("code execution", _CE, "copyreg", "add_extension remove_extension")
_deny_pairs("code execution", _CE, "functools", "reduce")
_deny_pairs("code execution", _CE, "numpy.testing._private.utils", "runstring")
_deny_pairs("code execution", _CE, "code", "InteractiveInterpreter.runsource InteractiveConsole.push")
# process creation
_deny_modules(
    "process execution",
    _PR,
    "os posix nt subprocess _posixsubprocess pty popen2 commands asyncio multiprocessing concurrent pip _osx_support"
    " platform pexpect ptyprocess sh plumbum invoke fabric signal _winapi msvcrt pydoc",
)
_deny_pairs("process execution", _PR, "uuid", "_get_command_stdout _popen _ifconfig_getnode _ip_getnode")
_deny_pairs("process execution", _PR, "imaplib", "IMAP4_stream")
_deny_pairs("process execution", _PR, "torch.utils.collect_env", "run run_and_read_all run_and_parse_first_match")
_deny_pairs("process execution", _PR, "pydoc", "pipepager tempfilepager pager getpager")
_deny_pairs("process execution", _PR, "webbrowser", "open open_new open_new_tab")
# network
_deny_modules(
    "network access",
    _NET,
    "socket _socket ssl _ssl urllib urllib2 urllib3 http httplib requests httpx aiohttp webbrowser smtplib smtpd"
    " ftplib telnetlib xmlrpc xmlrpclib poplib imaplib nntplib socketserver asyncore asynchat wsgiref paramiko"
    " boto3 botocore s3fs fsspec huggingface_hub antigravity select selectors torch.distributed.rpc",
)
# filesystem
_deny_modules(
    "filesystem access",
    _FS,
    "io _io shutil tempfile glob fileinput filecmp zipfile tarfile linecache dbm sqlite3 _sqlite3 mmap fcntl"
    " winreg _winreg gzip bz2 lzma zipapp mailbox",
)
_deny_pairs("filesystem access", _FS, "codecs", "open EncodedFile")
_deny_pairs("filesystem access", _FS, "torch", "save from_numpy_file")
_deny_pairs("filesystem access", _FS, "numpy", "save savez savez_compressed savetxt tofile")
_deny_pairs("filesystem access", _FS, "numpy.lib.format", "open_memmap write_array")
_deny_pairs("filesystem access", _FS, "joblib", "dump Memory")
_deny_modules("filesystem access", _FS, "joblib.memory joblib._store_backends joblib._memmapping_reducer")
_deny_pairs("process execution", _PR, "joblib", "Parallel parallel_backend parallel_config register_parallel_backend")
_deny_modules("process execution", _PR, "joblib.parallel joblib.pool joblib.executor joblib._parallel_backends")
_deny_pairs(
    "network access", _NET, "pandas", "read_csv read_json read_html read_parquet read_excel read_table read_xml"
)
_deny_pairs("filesystem access", _FS, "distutils.file_util", "write_file copy_file move_file")
_deny_pairs(
    "filesystem access",
    _FS,
    "os",
    "remove unlink rename renames replace chmod chown lchown makedirs mkdir rmdir removedirs write open truncate"
    " symlink link utime",
)
for _cls in ("Path", "PosixPath", "WindowsPath"):
    _deny_pairs(
        "filesystem access",
        _FS,
        "pathlib",
        " ".join(
            f"{_cls}.{m}"
            for m in [
                "write_text",
                "write_bytes",
                "unlink",
                "rmdir",
                "touch",
                "mkdir",
                "rename",
                "replace",
                "chmod",
                "symlink_to",
                "hardlink_to",
                "open",
                "read_text",
                "read_bytes",
            ]
        ),
    )

# Classes that are harmless as a reference (an array subclass named in a reconstruct call or a joblib
# wrapper) but open/create files when called: allowed, and the walker reports any call of them.
DENY_WHEN_CALLED: dict[tuple[str, str], tuple[Category, Severity, str]] = {
    (m, "memmap"): (Category.FILESYSTEM, Severity.HIGH, "memory-mapped file access")
    for m in ("numpy", "numpy.core.memmap", "numpy._core.memmap")
}
ALLOW = ALLOW | frozenset(DENY_WHEN_CALLED)

# Dunder attributes a legitimate (module, qualname) never traverses.
_DUNDER = re.compile(r"^__\w+__$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Module roots whose appearance inside a *name* means attribute traversal into a dangerous module.
_TRAVERSAL_ROOTS = frozenset(
    [
        "os",
        "posix",
        "nt",
        "sys",
        "subprocess",
        "builtins",
        "__builtins__",
        "importlib",
        "runpy",
        "pickle",
        "_pickle",
        "marshal",
        "socket",
        "shutil",
        "ctypes",
        "code",
        "types",
        "io",
        "_io",
        "codecs",
        "functools",
        "operator",
        "pty",
        "asyncio",
        "multiprocessing",
    ]
)


def compat_map(module: str, name: str) -> tuple[str, str]:
    """The Python 2 -> 3 renaming ``Unpickler(fix_imports=True)`` applies to protocol < 3 pickles."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _module_deny(module: str) -> tuple[Category, Severity, str] | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        hit = DENY_MODULES.get(".".join(parts[:i]))
        if hit:
            return hit
    return None


def _pair_deny(module: str, name: str) -> tuple[Category, Severity, str] | None:
    hit = DENY_PAIRS.get((module, name))
    if hit:
        return hit
    # ("code", "InteractiveInterpreter.runsource.x") or a prefix of a dotted name denied exactly
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        hit = DENY_PAIRS.get((module, ".".join(parts[:i])))
        if hit:
            return hit
    return None


def _deny(module: str, name: str) -> tuple[Category, Severity, str] | None:
    return _pair_deny(module, name) or _module_deny(module)


def _traversal(module: str, name: str) -> str:
    """Non-empty reason when ``name`` walks attributes into a dangerous object (``torch`` / ``os.system``)."""
    parts = name.split(".")
    for part in parts:
        if _DUNDER.match(part):
            return f"dunder attribute {part!r} in name"
    for part in module.split("."):
        if _DUNDER.match(part) and part not in ("__main__", "__builtin__", TORCHSCRIPT_MODULE):
            return f"dunder component {part!r} in module"
    if len(parts) < 2:
        return ""
    for i in range(len(parts)):
        if parts[i] in _TRAVERSAL_ROOTS:
            return f"attribute traversal into module {parts[i]!r}"
        for j in range(i + 1, len(parts)):
            sub_mod, sub_name = ".".join(parts[i:j]), ".".join(parts[j:])
            if _pair_deny(sub_mod, sub_name) or (i == 0 and _deny(f"{module}.{sub_mod}", sub_name)):
                return f"attribute traversal reaches denied {sub_mod}.{sub_name}"
    return ""


def _classify_one(module: str, name: str, *, torchscript: bool = False, inventory: bool = True) -> Classification:
    hit = _pair_deny(module, name)
    if hit:
        return Classification(Decision.DENY, hit[0], hit[1], hit[2], module, name)
    if (module, name) in ALLOW:
        return Classification(Decision.ALLOW, reason="allowlist", module=module, name=name)
    if inventory:
        known = _inventory().get(f"{module}:{name}")
        if known is not None:
            return _from_inventory(module, name, known)
    if torchscript and (
        (module, name) in TORCHSCRIPT_ALLOW
        or ((module == TORCHSCRIPT_MODULE or module.startswith(TORCHSCRIPT_MODULE + ".")) and _IDENT.match(name))
    ):
        return Classification(Decision.ALLOW, reason="torchscript class", module=module, name=name)
    why = _traversal(module, name)
    if why:
        return Classification(Decision.DENY, Category.OBFUSCATION, Severity.CRITICAL, why, module, name)
    hit = _module_deny(module)
    if hit:
        return Classification(Decision.DENY, hit[0], hit[1], hit[2], module, name)
    reason = "not on the allowlist"
    if "." in name:
        reason = "dotted name (attribute traversal) not on the allowlist"
    elif not (_IDENT.match(name) and all(_IDENT.match(p) for p in module.split("."))):
        reason = "malformed module or name"
    return Classification(Decision.UNKNOWN, Category.CODE_EXECUTION, Severity.MEDIUM, reason, module, name)


# --------------------------------------------------------------------------------------------------
# The generated inventory: what each global of the trusted libraries really is.
# --------------------------------------------------------------------------------------------------

INVENTORY_PATH = Path(__file__).with_name("pickle_inventory.json")
_SEVERITY_OF = {
    Category.PROCESS: Severity.CRITICAL,
    Category.CODE_EXECUTION: Severity.CRITICAL,
    Category.NETWORK: Severity.HIGH,
    Category.FILESYSTEM: Severity.HIGH,
}


# Historical module paths of the same objects (old scikit-learn releases, read statically from their wheels by
# ``pickle_history``): consulted only for paths the current inventory does not hold.
HISTORY_PATH = Path(__file__).with_name("pickle_history.json")


def _load_entries(path: Path) -> dict[str, tuple[str, str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: (v[0], v[1], v[2]) for k, v in data.get("entries", {}).items()}


@functools.cache
def _inventory() -> dict[str, tuple[str, str, str]]:
    """``"module:name" -> (allow|deny, kind or category, real "module:qualname")``; empty if the files are missing.

    Current paths (``pickle_inventory.json``) win over historical ones (``pickle_history.json``).
    """
    return _load_entries(HISTORY_PATH) | _load_entries(INVENTORY_PATH)


@functools.cache
def _current_inventory() -> dict[str, tuple[str, str, str]]:
    """The current paths only (what the history generator matches old definitions against)."""
    return _load_entries(INVENTORY_PATH)


def _from_inventory(module: str, name: str, known: tuple[str, str, str]) -> Classification:
    decision, kind, real = known
    real_dotted = real.replace(":", ".")
    if decision == "deny":
        category = Category(kind)
        same = real_dotted == f"{module}.{name}"
        why = f"{kind} access" if same else f"it is really {real_dotted} ({kind} access)"
        return Classification(
            Decision.DENY, category, _SEVERITY_OF.get(category, Severity.HIGH), why, module, name, real
        )
    return Classification(Decision.ALLOW, reason=f"inert {kind}", module=module, name=name, real=real)


_RANK = {Decision.ALLOW: 0, Decision.UNKNOWN: 1, Decision.DENY: 2}


def classify(module: str, name: str, *, torchscript: bool = False, inventory: bool = True) -> Classification:
    """Classify the global ``module.name`` as a real Unpickler would resolve it.

    ``inventory=False`` judges by the hand-kept lists only (what the inventory generator itself uses).
    """
    mapped = compat_map(module, name)
    result = _classify_one(*mapped, torchscript=torchscript, inventory=inventory)
    if mapped != (module, name):
        raw = _classify_one(module, name, torchscript=torchscript, inventory=inventory)
        if raw.decision is Decision.DENY and _RANK[raw.decision] > _RANK[result.decision]:
            result = raw
    return result
