"""Keras scanner: legacy HDF5 models (``.h5``/``.hdf5``) and Keras 3 ``.keras`` zips.

Nothing is loaded with Keras. HDF5 attributes are read with ``h5py`` (pure data access, no code) in
a killable child process whose reads are served from the Reader (:mod:`scanning.scanners.h5worker`):
memory stays bounded and a libhdf5 hang or crash cannot take the scanner down. ``.keras`` zips
are read with :mod:`scanning.scanners.zipfmt`; only ``config.json``/``metadata.json`` are read
(bounded), the weights member is handed to the router.

The model config JSON is walked recursively:

* ``keras.lambda.dangerous`` (malicious, code-execution) - a ``Lambda`` layer (Keras 2 ``function``
  list / Keras 3 ``__lambda__`` object) carries base64 marshalled bytecode whose raw bytes name
  ``os``/``system``/``subprocess``/``eval``/``exec``/``__import__``/``open``/``socket``… The
  bytecode is never unmarshalled: ``marshal.loads`` on hostile input is itself unsafe.
* ``keras.lambda.code`` (suspicious, code-execution) - any other Lambda bytecode: it runs at load
  time in Keras 2 and with ``safe_mode=False`` in Keras 3.
* ``keras.function.dangerous`` (malicious, code-execution) - a function referenced by module path
  into ``os``/``subprocess``/``builtins.eval``… (``{"module": "os", "config": "system"}``).
* ``keras.callable.dangerous`` (malicious, filesystem) - a ``module``/``class_name``/``registered_name``
  (or function reference) inside ``keras.*`` that is a helper, not a layer: ``get_file``
  (CVE-2025-8747: downloads a file to an attacker-chosen path even in safe mode), ``load_model``,
  ``load_weights``, ``enable_unsafe_deserialization``, ``TFSMLayer``, anything in ``file_utils``.
  ``keras.callable`` (suspicious) for other lower-case helpers of ``keras.utils``/``saving``/``models``.
* ``keras.custom_object`` (suspicious, remote-code) - ``module``/``registered_name`` outside
  ``keras.*``/``tensorflow.*``/``tf_keras.*`` (and the keras_nlp/cv/hub families): loading needs
  user code.
* ``hdf5.external_link`` (malicious if absolute/``..``, else suspicious; filesystem) - a group
  member of ``/`` or ``/model_weights`` is an HDF5 external link to another file. Links are listed,
  never followed: the scanner itself never opens the other file.
* ``keras.config.invalid`` / ``keras.malformed`` (unscannable) - config or container unreadable.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any

from . import h5worker, zipfmt
from .base import Category, LimitExceeded, Reader, ScanContext, Severity, Verdict
from .fmtcommon import DANGEROUS_MODULE_ROOTS, FormatError, short, strict_json

FORMAT = "keras"
FORMAT_HDF5 = "hdf5"

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
ALLOWED_MODULES = ("keras", "tensorflow", "tf_keras", "tf", "keras_nlp", "keras_cv", "keras_hub", "tensorflow_hub")

DANGEROUS_BUILTINS = {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "input", "breakpoint"}
DANGEROUS_CODE_NAMES = {
    b"os",
    b"system",
    b"popen",
    b"Popen",
    b"subprocess",
    b"eval",
    b"exec",
    b"compile",
    b"__import__",
    b"__builtins__",
    b"builtins",
    b"open",
    b"socket",
    b"importlib",
    b"import_module",
    b"pty",
    b"spawn",
    b"check_output",
    b"check_call",
    b"shutil",
    b"rmtree",
    b"urllib",
    b"urlopen",
    b"requests",
    b"pickle",
    b"marshal",
    b"loads",
    b"ctypes",
    b"environ",
    b"b64decode",
    b"getattr",
    b"remove",
    b"unlink",
    b"execve",
    b"execv",
}
_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_]")


def code_names(raw: bytes) -> set[bytes]:
    """Dangerous names in marshalled bytecode, found without unmarshalling.

    marshal stores names as length-prefixed strings (one length byte for short ASCII, four bytes
    otherwise); a name counts if it carries such a prefix or stands between non-identifier bytes.
    """
    found: set[bytes] = set()
    for name in DANGEROUS_CODE_NAMES:
        n = len(name)
        for m in re.finditer(re.escape(name), raw):
            s, e = m.start(), m.end()
            if (s >= 1 and raw[s - 1] == n) or (s >= 4 and raw[s - 4 : s] == struct.pack("<I", n)):
                found.add(name)
                break
            if not _IDENT_CHAR.match(raw[s - 1 : s] if s else b"") and not _IDENT_CHAR.match(raw[e : e + 1]):
                found.add(name)
                break
    return found


# Callables reachable inside the allowed ``keras`` namespace that are not layers/ops: Keras calls
# ``cls(**config)`` on whatever ``module``/``class_name`` resolves to, even in safe mode, so
# ``{"module": "keras.utils", "class_name": "get_file", "config": {"origin": …, "cache_dir": …}}``
# downloads a file to a chosen path (CVE-2025-8747, JFrog 2025), and the others load further files
# or switch safe mode off.
KERAS_DANGEROUS_CALLABLES = {
    "get_file",
    "load_model",
    "load_weights",
    "load_img",
    "enable_unsafe_deserialization",
    "TFSMLayer",
    "register_keras_serializable",
    "deserialize_keras_object",
}
# Namespaces of keras that hold helpers, not layers: a lower-case name there is a plain function.
KERAS_HELPER_MODULES = (
    "keras.utils",
    "keras.saving",
    "keras.models",
    "keras.config",
    "keras.src.utils",
    "keras.src.saving",
    "keras.src.models",
    "keras.src.legacy.saving",
    "tf_keras.utils",
    "tensorflow.keras.utils",
    "keras.preprocessing",
    "keras.src.export",
    "keras.export",
)


def keras_callable_danger(module: str, name: str) -> str:
    """ "malicious" / "suspicious" / "" for a keras-namespace reference that is not a layer or op."""
    if not module.startswith(ALLOWED_MODULES):
        return ""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in KERAS_DANGEROUS_CALLABLES or "file_utils" in module:
        return "malicious"
    if module.startswith(KERAS_HELPER_MODULES) and leaf[:1].islower():
        return "suspicious"
    return ""


MAX_REPORTED = 25
CONFIG_ATTRS = ("model_config", "training_config")


def hdf5_offset(reader: Reader) -> int | None:
    """Where the HDF5 superblock signature is: 0, or after a user block at 512, 1024, 2048, … (as libhdf5)."""
    pos = 0
    while pos + 8 <= reader.size:
        if reader.read_at(pos, 8) == HDF5_MAGIC:
            return pos
        pos = 512 if pos == 0 else pos * 2
    return None


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a Keras model: HDF5 (by magic, also behind a user block) or a ``.keras`` zip."""
    head = reader.read_at(0, 8)
    if hdf5_offset(reader) is not None and head[:4] != ZIP_MAGIC:
        scan_hdf5(reader, ctx)
    else:  # a zip, possibly behind prepended data (zipfile accepts it); not a zip -> keras.malformed
        scan_keras_zip(reader, ctx)


# --------------------------------------------------------------------------- HDF5


def scan_hdf5(reader: Reader, ctx: ScanContext) -> None:
    """Read the Keras attributes of an HDF5 file (root group and ``model_weights``) and walk them.

    ``h5py`` runs in a killable child process (:mod:`scanning.scanners.h5worker`): libhdf5 can hang
    or crash on crafted files. ``hdf5.malformed`` (unscannable) when it fails or dies.
    """
    if hdf5_offset(reader) is None:
        ctx.unscannable("hdf5.malformed", "HDF5 signature missing", short(reader.read_at(0, 8)))
        return
    try:
        result = h5worker.read_isolated(reader, ctx)
    except FormatError as exc:
        ctx.unscannable("hdf5.malformed", "HDF5 structure could not be read", str(exc))
        return
    if result.get("oversized"):
        raise LimitExceeded(f"HDF5 attribute {short(result['oversized'], 80)} is too large")
    for where, target, path in result.get("external", [])[:MAX_REPORTED]:
        target = str(target)
        escapes = bool(re.match(r"^([/\\~]|[A-Za-z]:)", target) or ".." in re.split(r"[/\\]", target))
        ctx.add(
            "hdf5.external_link",
            Category.FILESYSTEM,
            Severity.CRITICAL if escapes else Severity.MEDIUM,
            Verdict.MALICIOUS if escapes else Verdict.SUSPICIOUS,
            "HDF5 external link: loading the model opens another file",
            f"{short(where, 80)} -> {short(target, 160)}:{short(str(path), 80)}",
        )
    attrs = h5worker.decode_attrs(result)
    for name in CONFIG_ATTRS:
        if name not in attrs:
            continue
        try:
            config = strict_json(attrs[name])
        except FormatError as exc:
            ctx.unscannable("keras.config.invalid", f"HDF5 attribute {name} is not valid JSON", str(exc))
            continue
        walk_config(config, ctx, name)


# --------------------------------------------------------------------------- .keras zip


def scan_keras_zip(reader: Reader, ctx: ScanContext) -> None:
    """Keras 3 ``.keras`` archive: config.json + metadata.json + model.weights.h5.

    The zip is read with :mod:`scanning.scanners.zipfmt` (both central-directory and local-header
    views; the router reports their disagreements). Members other than the two JSON documents go
    back to the router.
    """
    try:
        archive = zipfmt.read_archive(reader, ctx, report=False)
    except zipfmt.ZipError as exc:
        ctx.unscannable("keras.malformed", ".keras file is not a readable zip", str(exc))
        return
    if not archive.has_central:  # Keras (zipfile) needs it; without it the file is truncated or forged
        ctx.unscannable("keras.malformed", ".keras zip has no usable central directory", "; ".join(archive.problems))
    members = archive.members()
    zipfmt.check_names(archive, ctx)  # Zip Slip (the router leaves .keras files to this scanner)
    if not any(e.name == "config.json" for e in members):
        ctx.unscannable("keras.malformed", ".keras zip has no config.json", ", ".join(e.name for e in members[:10]))
    for entry in members:
        ctx.check_time()
        if entry.name in ("config.json", "metadata.json"):
            try:
                data = _read_member(reader, entry, ctx)
                doc = strict_json(data)
            except (FormatError, zipfmt.ZipError) as exc:
                ctx.unscannable("keras.config.invalid", f"{entry.name} is unreadable or not valid JSON", str(exc))
                continue
            if entry.name == "config.json":
                walk_config(doc, ctx, "config.json")
            continue
        child = ctx.child(entry.name)
        try:
            member = zipfmt.open_member(reader, entry, child)
        except zipfmt.ZipError as exc:
            child.unscannable("zip.member", f"cannot read member: {exc}")
            continue
        if ctx.scan_nested is None:
            child.unscannable("nested.no_router", "nested member not scanned (no router attached)", entry.name)
            continue
        ctx.scan_nested(member, entry.name, child)
        zipfmt.check_member(member, entry, child)


def unsafe_member_name(name: str) -> bool:
    """Absolute, drive-letter or ``..`` member names (Zip Slip)."""
    return zipfmt.unsafe_name(name)


def _read_member(reader: Reader, entry: zipfmt.ZipEntry, ctx: ScanContext) -> bytes:
    limit = ctx.limits.max_text_bytes
    if entry.size > limit:
        raise LimitExceeded(f"{entry.name} declares {entry.size} bytes (text limit {limit})")
    member = zipfmt.open_member(reader, entry, ctx)
    data = member.read_at(0, limit + 1)
    if len(data) > limit:
        raise LimitExceeded(f"{entry.name} inflates past the {limit}-byte text limit")
    return data


# --------------------------------------------------------------------------- config walk


class _ConfigWalker:
    def __init__(self, ctx: ScanContext, source: str) -> None:
        self.ctx = ctx
        self.source = source
        self.reported = 0
        self.custom: set[str] = set()

    def add(self, rule: str, category: Category, verdict: Verdict, message: str, evidence: str) -> None:
        self.reported += 1
        if self.reported <= MAX_REPORTED:
            severity = Severity.CRITICAL if verdict == Verdict.MALICIOUS else Severity.HIGH
            self.ctx.add(rule, category, severity, verdict, f"{self.source}: {message}", evidence)

    def walk(self, obj: Any, path: str, depth: int = 0) -> None:
        if depth > 200:
            raise LimitExceeded("Keras config nested deeper than 200 levels")
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                self.walk(item, f"{path}[{i}]", depth + 1)
            return
        if not isinstance(obj, dict):
            return
        class_name = obj.get("class_name")
        config = obj.get("config")
        if class_name == "Lambda" and isinstance(config, dict):
            self.lambda_layer(config, f"{path}:{config.get('name', '?')}")
        elif class_name == "__lambda__" and isinstance(config, dict):
            self.code(config.get("code"), path)
        elif class_name == "function" or obj.get("registered_name") == "function":
            self.function_ref(obj.get("module"), config, path)
        else:
            self.custom_ref(obj, path)
        for key, value in obj.items():
            if isinstance(value, dict | list):
                self.walk(value, f"{path}.{key}", depth + 1)

    def keras_callable(self, module: Any, name: Any, path: str) -> bool:
        if not isinstance(module, str) or not isinstance(name, str):
            return False
        danger = keras_callable_danger(module, name)
        if not danger:
            return False
        self.add(
            "keras.callable.dangerous" if danger == "malicious" else "keras.callable",
            Category.FILESYSTEM if danger == "malicious" else Category.CODE_EXECUTION,
            Verdict.MALICIOUS if danger == "malicious" else Verdict.SUSPICIOUS,
            "config calls a keras helper that is not a layer"
            + (" (downloads/loads files or disables safe mode; CVE-2025-8747)" if danger == "malicious" else ""),
            f"{path}: {short(module, 60)}.{short(name, 60)}",
        )
        return True

    def custom_ref(self, obj: dict[str, Any], path: str) -> None:
        if "class_name" not in obj:
            return  # e.g. a Keras 2 Lambda config, whose "module" belongs to its function
        module = obj.get("module")
        registered = obj.get("registered_name")
        if self.keras_callable(module, obj.get("class_name"), path):
            return
        if isinstance(registered, str) and ">" in registered:
            pkg, _, reg_name = registered.partition(">")
            if self.keras_callable(pkg, reg_name, path):
                return
        ref = ""
        if isinstance(module, str) and module and not module.startswith(ALLOWED_MODULES):
            ref = f"{module}.{obj.get('class_name')}"
        elif (
            isinstance(registered, str)
            and ">" in registered
            and not registered.split(">", 1)[0].startswith(ALLOWED_MODULES)
        ):
            ref = registered
        if ref and ref not in self.custom:
            self.custom.add(ref)
            if isinstance(module, str) and module.split(".", 1)[0] in DANGEROUS_MODULE_ROOTS:
                self.add(
                    "keras.function.dangerous",
                    Category.CODE_EXECUTION,
                    Verdict.MALICIOUS,
                    "config references an object in a dangerous module",
                    f"{path}: {short(ref, 120)}",
                )
            else:
                self.add(
                    "keras.custom_object",
                    Category.REMOTE_CODE,
                    Verdict.SUSPICIOUS,
                    "custom object outside keras/tensorflow: loading needs user code",
                    f"{path}: {short(ref, 120)}",
                )

    def function_ref(self, module: Any, name: Any, path: str) -> None:
        mod = module if isinstance(module, str) else ""
        fn = name if isinstance(name, str) else ""
        if self.keras_callable(mod, fn, path):
            return
        dotted = f"{mod}.{fn}" if mod else fn
        root = dotted.split(".", 1)[0]
        leaf = dotted.rsplit(".", 1)[-1]
        if root in DANGEROUS_MODULE_ROOTS or (root in ("builtins", "__builtin__", "") and leaf in DANGEROUS_BUILTINS):
            self.add(
                "keras.function.dangerous",
                Category.CODE_EXECUTION,
                Verdict.MALICIOUS,
                "function reference into a dangerous module",
                f"{path}: {short(dotted, 120)}",
            )
        elif mod and not mod.startswith(ALLOWED_MODULES) and dotted not in self.custom:
            self.custom.add(dotted)
            self.add(
                "keras.custom_object",
                Category.REMOTE_CODE,
                Verdict.SUSPICIOUS,
                "function reference outside keras/tensorflow",
                f"{path}: {short(dotted, 120)}",
            )

    def lambda_layer(self, config: dict[str, Any], path: str) -> None:
        function = config.get("function")
        ftype = config.get("function_type")
        if ftype == "function" and isinstance(function, str):
            self.function_ref(config.get("module"), function, path)
        elif isinstance(function, list) and function:
            self.code(function[0], path)
        elif isinstance(function, str):
            self.code(function, path)
        elif isinstance(function, dict) and function.get("class_name") == "__tuple__":
            items = function.get("items")  # tf.keras JSON encoding of the (code, defaults, closure) tuple
            self.code(items[0] if isinstance(items, list) and items else items, path)
        elif isinstance(function, dict) and (
            function.get("class_name") in ("__lambda__", "function") or function.get("registered_name") == "function"
        ):
            pass  # Keras 3 encodings, handled by the recursive walk
        else:
            self.add(
                "keras.lambda.code",
                Category.CODE_EXECUTION,
                Verdict.SUSPICIOUS,
                "Lambda layer with an unrecognised function encoding",
                f"{path}: {short(function, 120)}",
            )
        shape = config.get("output_shape")
        if config.get("output_shape_type") == "lambda":
            if isinstance(shape, dict) and isinstance(shape.get("items"), list) and shape["items"]:
                shape = shape["items"]
            self.code(shape[0] if isinstance(shape, list) and shape else shape, path + ".output_shape")

    def code(self, encoded: Any, path: str) -> None:
        if not isinstance(encoded, str):
            self.add(
                "keras.lambda.code",
                Category.CODE_EXECUTION,
                Verdict.SUSPICIOUS,
                "Lambda without decodable bytecode",
                f"{path}: {short(encoded, 80)}",
            )
            return
        try:
            raw = base64.b64decode(encoded.encode("ascii", "replace"), validate=False)
        except (binascii.Error, ValueError):
            raw = encoded.encode("utf-8", "replace")
        names = sorted(code_names(raw))
        shown = ", ".join(n.decode() for n in names)
        if names:
            self.add(
                "keras.lambda.dangerous",
                Category.CODE_EXECUTION,
                Verdict.MALICIOUS,
                "Lambda layer bytecode references dangerous names (runs at load time)",
                f"{path}: names {shown} in {len(raw)} bytes of marshalled code",
            )
        else:
            self.add(
                "keras.lambda.code",
                Category.CODE_EXECUTION,
                Verdict.SUSPICIOUS,
                "Lambda layer carries Python bytecode (runs at load time)",
                f"{path}: {len(raw)} bytes of marshalled code",
            )


def walk_config(config: Any, ctx: ScanContext, source: str) -> None:
    """Apply the Keras config rules to a parsed JSON config."""
    _ConfigWalker(ctx, source).walk(config, "$")
