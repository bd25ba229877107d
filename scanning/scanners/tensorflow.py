"""TensorFlow SavedModel (``saved_model.pb``) and frozen GraphDef (``*.pb``) scanner.

The protobuf is walked with :mod:`scanning.scanners.protobuf` (streaming, constant tensors skipped
by offset). Every ``NodeDef`` of every meta graph and of every function in the function library is
checked by op type. TensorFlow graphs run no Python by themselves; the dangerous ops are those that
call back into Python or touch the filesystem/network when the graph runs:

* ``tensorflow.op.pyfunc`` (malicious, code-execution) - ``PyFunc``/``PyFuncStateless``/
  ``EagerPyFunc`` call a Python callable registered in the loading process (``token``); in a
  distributed model they are how arbitrary Python is smuggled into "just a graph".
* ``tensorflow.op.file_write`` (malicious, filesystem) - ``WriteFile``, ``DatasetToTFRecord``,
  ``PrintV2`` whose ``output_stream`` is ``file://…``, debug ops with ``file://`` URLs: running the
  model writes attacker-chosen files (persistence, overwrite of code/config).
* ``tensorflow.op.network`` (malicious, network) - debug ops with ``grpc://``/``http`` URLs stream
  tensors to a remote host.
* ``tensorflow.op.file_read`` (suspicious, filesystem) - ``ReadFile``, ``MatchingFiles``,
  ``*RecordDataset``/``TextLineDataset``, ``ImmutableConst`` (mmaps a path): reading local files
  from a serving graph is an exfiltration vector (the content comes back as model output), but
  input pipelines have legitimate uses, so it is flagged for review, not condemned.
* ``tensorflow.op.checkpoint_io`` (suspicious, filesystem) - ``SaveV2``/``RestoreV2``/
  ``MergeV2Checkpoints``/``Save``/``Restore*`` outside the standard saver subgraph (TF1 nodes
  under ``save/``, TF2 functions ``*_traced_save_*``/``*_traced_restore_*``/``save_fn``/
  ``restore_fn``). Inside it they are normal and only counted in ``tensorflow.ops`` (info).
* ``tensorflow.op.debug`` (suspicious) - other ``Debug*`` ops.
* ``tensorflow.op.file_write`` (suspicious) also for summary writers (``CreateSummaryFileWriter``,
  ``CreateSummaryDbWriter``, ``SummaryWriter``): running the graph writes event files.
* ``tensorflow.op.host_path`` (malicious, filesystem) - a file-touching op (``WriteFile``, ``ReadFile``,
  ``MatchingFiles``, datasets/readers, ``Save``/``SaveV2``/``Restore*``, summary writers,
  ``ImmutableConst``) whose file name is a string constant naming a host path: absolute, ``~``,
  drive/UNC, ``file://`` or ``..`` (e.g. ``ReadFile("/etc/passwd")`` returned as model output,
  ``SaveV2("/home/user/.bashrc", …)``). Constants are resolved per GraphDef/FunctionDef.
* ``tensorflow.ops`` (info) - inventory of op types.
* Keras layers saved inside a SavedModel (``keras_metadata.pb`` and, before TF 2.5, the
  ``user_object.metadata`` of ``saved_model.pb``'s object graph) carry the same JSON configs as
  ``.h5``/``.keras``; they go through :func:`scanning.scanners.keras.walk_config` (Lambda bytecode,
  dangerous function references, custom objects). ``tensorflow.keras_metadata`` (unscannable) if
  that JSON is broken.
* ``tensorflow.malformed`` (unscannable) - not a parseable SavedModel/GraphDef.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from . import keras
from . import protobuf as pb
from .base import Category, LimitExceeded, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, basename, short, strict_json

FORMAT = "tensorflow-savedmodel"

PYFUNC_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
WRITE_OPS = {"WriteFile", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "WriteAudioSummary"}
READ_OPS = {
    "ReadFile",
    "MatchingFiles",
    "MatchingFilesDataset",
    "ExperimentalMatchingFilesDataset",
    "TFRecordDataset",
    "TFRecordDatasetV2",
    "TextLineDataset",
    "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2",
    "LMDBDataset",
    "ExperimentalLMDBDataset",
    "ImmutableConst",
    "TFRecordReader",
    "TFRecordReaderV2",
    "WholeFileReader",
    "WholeFileReaderV2",
    "TextLineReader",
    "TextLineReaderV2",
}
CHECKPOINT_OPS = {"SaveV2", "RestoreV2", "MergeV2Checkpoints", "Save", "SaveSlices", "Restore", "RestoreSlice"}
_SAVER_NODE = re.compile(r"^save(_\d+)?/")
_SAVER_FUNCTION = re.compile(r"_traced_save_\d*$|_traced_restore_\d*$|(^|_)save_fn(_\d+)?$|(^|_)restore_fn(_\d+)?$")
_URL_ATTRS = {"debug_urls", "output_stream", "dump_root", "tfdbg_context_id"}
MAX_REPORTED = 30
# Summary writers create event files under the logdir they are given when the graph runs.
SUMMARY_WRITER_OPS = {"CreateSummaryFileWriter", "CreateSummaryDbWriter", "SummaryWriter"}
# Ops whose inputs/attrs are file names: a constant host path there is judged (tensorflow.op.host_path).
PATH_OPS = WRITE_OPS | READ_OPS | CHECKPOINT_OPS | SUMMARY_WRITER_OPS
_HOST_PATH = re.compile(r"^(/|~|[A-Za-z]:[\\/]|\\\\|file://)|(^|[/\\])\.\.([/\\]|$)", re.IGNORECASE)
MAX_CONST_STRINGS = 64

# NodeDef / AttrValue / FunctionDef / GraphDef / MetaGraphDef / SavedModel field numbers
ND_NAME, ND_OP, ND_INPUT, ND_ATTR = 1, 2, 3, 5
AV_LIST, AV_S, AV_TENSOR = 1, 2, 8
TP_STRING_VAL = 8
GD_NODE, GD_LIBRARY = 1, 2
LIB_FUNCTION = 1
FD_SIGNATURE, FD_NODE = 1, 3
MG_GRAPH = 2
MG_OBJECT_GRAPH = 7
SM_VERSION, SM_META_GRAPHS = 1, 2


@dataclass
class _State:
    ops: Counter[str] = field(default_factory=Counter)
    reported: int = 0
    steps: int = 0


@dataclass
class _Scope:
    """One GraphDef or FunctionDef: string constants by node name and the path-taking nodes to resolve."""

    consts: dict[str, list[str]] = field(default_factory=dict)
    pending: list[tuple[str, str, str, list[str]]] = field(default_factory=list)


def host_path(value: str) -> bool:
    """Absolute, home-relative, drive/UNC, file:// or climbing (``..``) path: outside any model folder."""
    return bool(_HOST_PATH.search(value))


class _Walker:
    def __init__(self, reader: Reader, ctx: ScanContext) -> None:
        self.win = pb.Window(reader)
        self.ctx = ctx
        self.state = _State()
        self.scopes: list[_Scope] = [_Scope()]

    def tick(self) -> None:
        self.state.steps += 1
        if self.state.steps % 2048 == 0:
            self.ctx.check_time()

    def saved_model(self) -> None:
        metas = 0
        for f in pb.fields(self.win, 0, self.win.size):
            self.tick()
            if f.number == SM_META_GRAPHS and f.wire == pb.LEN:
                metas += 1
                for sub in pb.fields(self.win, f.offset, f.end):
                    if sub.number == MG_GRAPH and sub.wire == pb.LEN:
                        self.graph(sub.offset, sub.end)
                    elif sub.number == MG_OBJECT_GRAPH and sub.wire == pb.LEN:
                        self.object_graph(sub)
            elif not (f.number == SM_VERSION and f.wire == pb.VARINT):
                raise FormatError(f"unexpected field {f.number} (wire {f.wire}) in SavedModel")
        if not metas:
            raise FormatError("SavedModel has no meta graph")

    def object_graph(self, f: pb.Field) -> None:
        """SavedObjectGraph: Keras (TF < 2.5) keeps each layer's JSON config in ``user_object.metadata``."""
        for node in pb.fields(self.win, f.offset, f.end):
            self.tick()
            if node.number != 1 or node.wire != pb.LEN:
                continue
            for kind in pb.fields(self.win, node.offset, node.end):
                if kind.number == 4 and kind.wire == pb.LEN:  # SavedObject.user_object
                    identifier = ""
                    metadata: pb.Field | None = None
                    for uo in pb.fields(self.win, kind.offset, kind.end):
                        if uo.number == 1 and uo.wire == pb.LEN:
                            identifier = pb.text(self.win, uo, 256)
                        elif uo.number == 3 and uo.wire == pb.LEN:
                            metadata = uo
                    if metadata is not None and identifier.startswith("_tf_keras"):
                        self.keras_metadata(metadata, identifier)

    def keras_metadata(self, f: pb.Field, where: str) -> None:
        if f.value > self.ctx.limits.max_text_bytes:
            raise LimitExceeded(f"Keras metadata of {f.value} bytes in {where}")
        raw = self.win.read(f.offset, f.value)
        try:
            doc = strict_json(raw)
        except FormatError as exc:
            self.ctx.unscannable("tensorflow.keras_metadata", f"Keras metadata in {where} is not valid JSON", str(exc))
            return
        keras.walk_config(doc, self.ctx, f"SavedModel {short(where, 60)}")

    def saved_metadata(self) -> None:
        """``keras_metadata.pb`` (SavedMetadata): nodes[i].metadata are Keras layer configs (JSON)."""
        seen = 0
        for f in pb.fields(self.win, 0, self.win.size):
            self.tick()
            if f.number != 1 or f.wire != pb.LEN:
                raise FormatError(f"unexpected field {f.number} in keras_metadata.pb")
            seen += 1
            identifier = ""
            metadata: pb.Field | None = None
            for sub in pb.fields(self.win, f.offset, f.end):
                if sub.number == 3 and sub.wire == pb.LEN:
                    identifier = pb.text(self.win, sub, 256)
                elif sub.number == 4 and sub.wire == pb.LEN:
                    metadata = sub
            if metadata is not None:
                self.keras_metadata(metadata, identifier or "keras_metadata.pb")
        if not seen:
            raise FormatError("keras_metadata.pb has no nodes")

    def graph(self, start: int, end: int) -> int:
        self.scopes.append(_Scope())
        try:
            return self._graph(start, end)
        finally:
            self.resolve(self.scopes.pop())

    def _graph(self, start: int, end: int) -> int:
        nodes = 0
        for f in pb.fields(self.win, start, end):
            self.tick()
            if f.number == GD_NODE and f.wire == pb.LEN:
                nodes += 1
                self.node(f, "")
            elif f.number == GD_LIBRARY and f.wire == pb.LEN:
                for fn in pb.fields(self.win, f.offset, f.end):
                    if fn.number == LIB_FUNCTION and fn.wire == pb.LEN:
                        nodes += self.function(fn)
            elif f.number in (GD_NODE, GD_LIBRARY, 4) and f.wire != pb.LEN:
                raise FormatError(f"GraphDef field {f.number} has wire type {f.wire}")
        return nodes

    def function(self, f: pb.Field) -> int:
        name = ""
        nodes: list[pb.Field] = []
        for sub in pb.fields(self.win, f.offset, f.end):
            self.tick()
            if sub.number == FD_SIGNATURE and sub.wire == pb.LEN:
                for s in pb.fields(self.win, sub.offset, sub.end):
                    if s.number == 1 and s.wire == pb.LEN:
                        name = pb.text(self.win, s, 512)
            elif sub.number == FD_NODE and sub.wire == pb.LEN:
                nodes.append(sub)
        self.scopes.append(_Scope())
        try:
            for node in nodes:
                self.node(node, name)
        finally:
            self.resolve(self.scopes.pop())
        return len(nodes)

    def node(self, f: pb.Field, function: str) -> None:
        name = op = ""
        attrs: dict[str, list[str]] = {}
        inputs: list[str] = []
        for sub in pb.fields(self.win, f.offset, f.end):
            if sub.wire != pb.LEN:
                continue
            if sub.number == ND_NAME:
                name = pb.text(self.win, sub, 512)
            elif sub.number == ND_OP:
                op = pb.text(self.win, sub, 256)
            elif sub.number == ND_INPUT and len(inputs) < 64:
                inputs.append(pb.text(self.win, sub, 512))
            elif sub.number == ND_ATTR:
                key, values = self.attr(sub)
                if key:
                    attrs[key] = values
        self.state.ops[op] += 1
        scope = self.scopes[-1]
        if op == "Const" and attrs.get("value"):
            scope.consts[name] = attrs["value"]
        if op in PATH_OPS:
            scope.pending.append(
                (op, name, function, inputs + [f"attr:{v}" for v in attrs.get("memory_region_name", [])])
            )
        self.check(op, name, function, attrs)

    def resolve(self, scope: _Scope) -> None:
        """Judge path-taking ops whose file name is a constant naming a host path."""
        for op, name, function, inputs in scope.pending:
            paths: list[str] = []
            for ref in inputs:
                if ref.startswith("attr:"):
                    paths.append(ref[5:])
                    continue
                source = ref.lstrip("^").split(":", 1)[0]
                paths.extend(scope.consts.get(source, []))
            bad = [p for p in paths if host_path(p)]
            if bad:
                where = f"node {short(name, 120)!r}" + (f" in function {short(function, 120)!r}" if function else "")
                self.add(
                    "tensorflow.op.host_path",
                    Category.FILESYSTEM,
                    Verdict.MALICIOUS,
                    f"{op} reads/writes a host path outside the model when the graph runs",
                    f"{where}: {op}({short(bad[0], 160)!r})",
                )

    def attr(self, f: pb.Field) -> tuple[str, list[str]]:
        """Map entry -> (key, string values of the AttrValue); only strings matter for the rules."""
        key = ""
        values: list[str] = []
        for kv in pb.fields(self.win, f.offset, f.end):
            if kv.number == 1 and kv.wire == pb.LEN:
                key = pb.text(self.win, kv, 256)
            elif kv.number == 2 and kv.wire == pb.LEN:
                for av in pb.fields(self.win, kv.offset, kv.end):
                    if av.number == AV_S and av.wire == pb.LEN:
                        values.append(pb.text(self.win, av, 1024))
                    elif av.number == AV_TENSOR and av.wire == pb.LEN and key == "value":
                        for tp in pb.fields(self.win, av.offset, av.end):
                            if tp.number == TP_STRING_VAL and tp.wire == pb.LEN and len(values) < MAX_CONST_STRINGS:
                                values.append(pb.text(self.win, tp, 1024))
                    elif av.number == AV_LIST and av.wire == pb.LEN:
                        for item in pb.fields(self.win, av.offset, av.end):
                            if item.number == 2 and item.wire == pb.LEN and len(values) < 64:
                                values.append(pb.text(self.win, item, 1024))
        return key, values

    def add(self, rule: str, category: Category, verdict: Verdict, message: str, evidence: str) -> None:
        self.state.reported += 1
        if self.state.reported > MAX_REPORTED:
            return
        severity = {
            Verdict.MALICIOUS: Severity.CRITICAL,
            Verdict.SUSPICIOUS: Severity.MEDIUM,
        }.get(verdict, Severity.INFO)
        self.ctx.add(rule, category, severity, verdict, message, evidence)

    def check(self, op: str, name: str, function: str, attrs: dict[str, list[str]]) -> None:
        where = f"node {short(name, 120)!r}" + (f" in function {short(function, 120)!r}" if function else "")
        urls = [v for k in _URL_ATTRS for v in attrs.get(k, [])]
        if op in PYFUNC_OPS:
            token = ",".join(attrs.get("token", [])) or "?"
            self.add(
                "tensorflow.op.pyfunc",
                Category.CODE_EXECUTION,
                Verdict.MALICIOUS,
                f"{op} runs a Python callable when the graph executes",
                f"{where}: {op}(token={short(token, 80)!r})",
            )
        elif op in SUMMARY_WRITER_OPS:
            self.add(
                "tensorflow.op.file_write",
                Category.FILESYSTEM,
                Verdict.SUSPICIOUS,
                f"{op} creates event files under a log directory when the graph runs",
                f"{where}: {op}",
            )
        elif op in WRITE_OPS:
            self.add(
                "tensorflow.op.file_write",
                Category.FILESYSTEM,
                Verdict.MALICIOUS,
                f"{op} writes files when the graph executes",
                f"{where}: {op}",
            )
        elif op in READ_OPS:
            detail = attrs.get("memory_region_name", [])
            self.add(
                "tensorflow.op.file_read",
                Category.FILESYSTEM,
                Verdict.SUSPICIOUS,
                f"{op} reads local files when the graph executes",
                f"{where}: {op}" + (f" path={short(detail[0], 120)!r}" if detail else ""),
            )
        elif op in CHECKPOINT_OPS:
            if not (_SAVER_NODE.search(name) or _SAVER_FUNCTION.search(function)):
                self.add(
                    "tensorflow.op.checkpoint_io",
                    Category.FILESYSTEM,
                    Verdict.SUSPICIOUS,
                    f"{op} outside the standard saver subgraph reads/writes checkpoint files",
                    f"{where}: {op}",
                )
        elif op == "PrintV2" or op.startswith("Debug"):
            file_urls = [u for u in urls if u.lower().startswith("file://") or u.startswith("/")]
            net_urls = [u for u in urls if re.match(r"(?i)(grpc|https?)://", u)]
            if file_urls:
                self.add(
                    "tensorflow.op.file_write",
                    Category.FILESYSTEM,
                    Verdict.MALICIOUS,
                    f"{op} writes tensors to a file",
                    f"{where}: {op} -> {short(file_urls[0], 160)}",
                )
            elif net_urls:
                self.add(
                    "tensorflow.op.network",
                    Category.NETWORK,
                    Verdict.MALICIOUS,
                    f"{op} sends tensors over the network",
                    f"{where}: {op} -> {short(net_urls[0], 160)}",
                )
            elif op.startswith("Debug"):
                self.add(
                    "tensorflow.op.debug",
                    Category.FILESYSTEM,
                    Verdict.SUSPICIOUS,
                    f"debugger op {op} in a distributed graph",
                    f"{where}: {op}",
                )


def _fingerprint(win: pb.Window, ctx: ScanContext) -> None:
    """``fingerprint.pb`` (TF >= 2.12): FingerprintDef = five uint64 hashes, a VersionDef, a UUID; no ops, no code."""
    if win.size > 64 * 1024:
        raise FormatError(f"fingerprint.pb of {win.size} bytes (real ones are ~100)")
    for f in pb.fields(win, 0, win.size):
        if not ((1 <= f.number <= 5 and f.wire == pb.VARINT) or (6 <= f.number <= 15 and f.wire == pb.LEN)):
            raise FormatError(f"unexpected field {f.number} (wire {f.wire}) in fingerprint.pb")
    ctx.add("tensorflow.fingerprint", Category.FORMAT_ABUSE, Severity.INFO, Verdict.SAFE, "SavedModel fingerprint")


def _kind(win: pb.Window, ctx: ScanContext) -> str:
    """ "savedmodel" or "graphdef", from the first field (SavedModel starts with its schema version)."""
    for f in pb.fields(win, 0, win.size):
        if f.number == 1:
            return "savedmodel" if f.wire == pb.VARINT else "graphdef"
        break
    return "savedmodel" if basename(ctx).lower() == "saved_model.pb" else "graphdef"


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a SavedModel or GraphDef ``.pb``; see the module docstring for the rules."""
    walker = _Walker(reader, ctx)
    try:
        if reader.size == 0:
            raise FormatError("empty file")
        if basename(ctx).lower() == "keras_metadata.pb":
            walker.saved_metadata()
            return
        if basename(ctx).lower() == "fingerprint.pb":
            _fingerprint(walker.win, ctx)
            return
        if _kind(walker.win, ctx) == "savedmodel":
            walker.saved_model()
        elif walker.graph(0, reader.size) == 0:
            raise FormatError("GraphDef without nodes")
    except FormatError as exc:
        ctx.unscannable("tensorflow.malformed", "TensorFlow protobuf could not be parsed", str(exc))
        return
    ops = walker.state.ops
    if walker.state.reported > MAX_REPORTED:
        ctx.add(
            "tensorflow.findings_truncated",
            Category.FORMAT_ABUSE,
            Severity.INFO,
            Verdict.SAFE,
            f"{walker.state.reported - MAX_REPORTED} further op findings not listed",
        )
    ctx.add(
        "tensorflow.ops",
        Category.FORMAT_ABUSE,
        Severity.INFO,
        Verdict.SAFE,
        f"{sum(ops.values())} nodes, {len(ops)} op types",
        ", ".join(f"{short(op, 60)} x{n}" for op, n in ops.most_common(40)),
    )
