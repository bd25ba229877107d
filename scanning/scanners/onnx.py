"""ONNX scanner: walks ModelProto with the streaming protobuf reader, never loading tensors.

ONNX graphs contain no code, but two features reach outside the file:

* ``onnx.custom_domain`` (suspicious, code-execution) - a node (or ``opset_import``) in an operator
  domain other than the standard ones. Custom-op domains are implemented by native libraries
  registered in the runtime (``ort.SessionOptions.register_custom_ops_library``); a model that
  needs them asks the user to load a shared object. onnxruntime's own internal domains
  (``com.microsoft.nchwc``…, written by its optimizer) and model-local function domains are not
  custom ops.
* ``onnx.python_op`` (malicious, code-execution) - ``com.microsoft`` ``PythonOp``/``PythonOpGrad``
  (onnxruntime training: calls the Python ``autograd.Function`` its ``func_name`` names) and
  ``ai.onnx.contrib`` ``PyOp`` (onnxruntime-extensions Python custom op), or a ``Py*`` op in any
  other non-standard domain. ``com.microsoft`` stays a standard domain for its other (native) ops.
* ``onnx.external_data.escape`` (malicious, filesystem) - a tensor's ``external_data`` location is
  absolute, contains ``..``, a drive letter, a URL scheme or a NUL byte: loading the model reads
  (and ``save_model`` may write) files outside the model directory (CVE-2022-25882 class).
* ``onnx.external_data`` (info) - the model keeps weights in side files; they must be scanned too.
* ``onnx.malformed`` (unscannable) - not a parseable ModelProto (no ``ir_version``/``graph``,
  bad wire format, nesting deeper than the bound).

Subgraphs (``If``/``Loop``/``Scan`` attributes, ``training_info``, model-local functions) are
walked up to ``MAX_GRAPH_DEPTH``.
"""

from __future__ import annotations

import re

from . import protobuf as pb
from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, short

FORMAT = "onnx"

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training", "ai.onnx.training"}
# Domains onnxruntime itself implements (graph optimizers write them into saved optimized models):
# no external library is loaded for them.
ORT_INTERNAL_DOMAINS = {
    "com.microsoft.nchwc",
    "com.ms.internal.nhwc",
    "com.microsoft.experimental",
    "com.microsoft.dml",
}
MAX_GRAPH_DEPTH = 16
MAX_REPORTED = 20
# Ops that run a Python callable named in the model: ORT training's PythonOp/PythonOpGrad (com.microsoft,
# calls the autograd.Function named by ``func_name``) and onnxruntime-extensions' PyOp (ai.onnx.contrib).
PYTHON_OPS = {("com.microsoft", "PythonOp"), ("com.microsoft", "PythonOpGrad"), ("ai.onnx.contrib", "PyOp")}

# ModelProto
M_IR_VERSION, M_GRAPH, M_OPSET, M_TRAINING, M_FUNCTIONS = 1, 7, 8, 20, 25
# GraphProto
G_NODE, G_INITIALIZER, G_SPARSE_INIT = 1, 5, 15
# NodeProto
N_OP_TYPE, N_ATTRIBUTE, N_DOMAIN = 4, 5, 7
# AttributeProto
A_T, A_G, A_TENSORS, A_GRAPHS, A_SPARSE, A_SPARSES = 5, 6, 10, 11, 22, 23
# TensorProto
T_NAME, T_EXTERNAL, T_LOCATION = 8, 13, 14
# FunctionProto
F_NODE, F_OPSET, F_DOMAIN, F_NAME = 7, 9, 10, 1

_ESCAPE = re.compile(r"(^[/\\~])|(^[A-Za-z]:)|((^|[/\\])\.\.([/\\]|$))|(^[A-Za-z][A-Za-z0-9+.-]*://)|\x00")


def location_escapes(location: str) -> bool:
    """True if an external-data location can point outside the model directory."""
    return bool(_ESCAPE.search(location))


class _Walker:
    def __init__(self, reader: Reader, ctx: ScanContext) -> None:
        self.win = pb.Window(reader)
        self.ctx = ctx
        self.local_functions: set[tuple[str, str]] = set()
        self.custom: dict[str, str] = {}  # domain -> first op seen
        self.python_ops = 0
        self.external: list[str] = []
        self.escapes = 0
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps % 2048 == 0:
            self.ctx.check_time()

    def model(self) -> None:
        win = self.win
        ir_version = None
        graph: pb.Field | None = None
        opsets: list[pb.Field] = []
        others: list[pb.Field] = []
        for f in pb.fields(win, 0, win.size):
            self.tick()
            if f.number == M_IR_VERSION and f.wire == pb.VARINT:
                ir_version = f.value
            elif f.number == M_GRAPH and f.wire == pb.LEN:
                graph = f
            elif f.number == M_OPSET and f.wire == pb.LEN:
                opsets.append(f)
            elif f.number in (M_TRAINING, M_FUNCTIONS) and f.wire == pb.LEN:
                others.append(f)
        if ir_version is None or graph is None or (ir_version >= 3 and not opsets):
            raise FormatError("not an ONNX ModelProto (missing ir_version, graph or opset_import)")
        for f in others:
            if f.number == M_FUNCTIONS:
                self.function_header(f)
        for f in opsets:
            self.opset(f, "model opset_import")
        self.graph(graph, 1)
        for f in others:
            if f.number == M_FUNCTIONS:
                self.function(f)
            else:  # TrainingInfoProto: initialization (1) and algorithm (2) graphs
                for sub in pb.fields(self.win, f.offset, f.end):
                    if sub.number in (1, 2) and sub.wire == pb.LEN:
                        self.graph(sub, 2)

    def opset(self, f: pb.Field, where: str) -> None:
        for sub in pb.fields(self.win, f.offset, f.end):
            if sub.number == 1 and sub.wire == pb.LEN:
                self.domain(pb.text(self.win, sub), f"({where})")

    def domain(self, domain: str, op: str) -> None:
        if domain in STANDARD_DOMAINS or domain in ORT_INTERNAL_DOMAINS:
            return
        if any(d == domain for d, _ in self.local_functions):
            return
        if domain not in self.custom or (self.custom[domain].startswith("(") and not op.startswith("(")):
            self.custom[domain] = op  # prefer naming a real op over the opset_import entry

    def function_header(self, f: pb.Field) -> None:
        name = domain = ""
        for sub in pb.fields(self.win, f.offset, f.end):
            if sub.number == F_NAME and sub.wire == pb.LEN:
                name = pb.text(self.win, sub)
            elif sub.number == F_DOMAIN and sub.wire == pb.LEN:
                domain = pb.text(self.win, sub)
        self.local_functions.add((domain, name))

    def function(self, f: pb.Field) -> None:
        for sub in pb.fields(self.win, f.offset, f.end):
            self.tick()
            if sub.number == F_NODE and sub.wire == pb.LEN:
                self.node(sub, 2)
            elif sub.number == F_OPSET and sub.wire == pb.LEN:
                self.opset(sub, "function opset_import")

    def graph(self, f: pb.Field, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise FormatError(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH}")
        for sub in pb.fields(self.win, f.offset, f.end):
            self.tick()
            if sub.wire != pb.LEN:
                continue
            if sub.number == G_NODE:
                self.node(sub, depth)
            elif sub.number == G_INITIALIZER:
                self.tensor(sub)
            elif sub.number == G_SPARSE_INIT:
                self.sparse(sub)

    def node(self, f: pb.Field, depth: int) -> None:
        op_type = domain = ""
        attributes: list[pb.Field] = []
        for sub in pb.fields(self.win, f.offset, f.end):
            if sub.wire != pb.LEN:
                continue
            if sub.number == N_OP_TYPE:
                op_type = pb.text(self.win, sub, 256)
            elif sub.number == N_DOMAIN:
                domain = pb.text(self.win, sub, 256)
            elif sub.number == N_ATTRIBUTE:
                attributes.append(sub)
        self.domain(domain, op_type)
        if (domain, op_type) in PYTHON_OPS or (op_type.startswith("Py") and domain not in STANDARD_DOMAINS):
            self.python_op(domain, op_type, attributes)
        for attr in attributes:
            for sub in pb.fields(self.win, attr.offset, attr.end):
                self.tick()
                if sub.wire != pb.LEN:
                    continue
                if sub.number in (A_G, A_GRAPHS):
                    self.graph(sub, depth + 1)
                elif sub.number in (A_T, A_TENSORS):
                    self.tensor(sub)
                elif sub.number in (A_SPARSE, A_SPARSES):
                    self.sparse(sub)

    def python_op(self, domain: str, op_type: str, attributes: list[pb.Field]) -> None:
        detail: list[str] = []
        for attr in attributes:
            name = value = ""
            for sub in pb.fields(self.win, attr.offset, attr.end):
                if sub.number == 1 and sub.wire == pb.LEN:
                    name = pb.text(self.win, sub, 128)
                elif sub.number == 4 and sub.wire == pb.LEN:  # AttributeProto.s
                    value = pb.text(self.win, sub, 256)
            if value and name in ("func_name", "name", "op_type", "module", "callable"):
                detail.append(f"{name}={short(value, 120)!r}")
        self.python_ops += 1
        if self.python_ops <= MAX_REPORTED:
            self.ctx.add(
                "onnx.python_op",
                Category.CODE_EXECUTION,
                Severity.CRITICAL,
                Verdict.MALICIOUS,
                "operator runs a Python callable named in the model",
                f"{domain}::{op_type}" + (f" ({', '.join(detail)})" if detail else ""),
            )

    def sparse(self, f: pb.Field) -> None:
        for sub in pb.fields(self.win, f.offset, f.end):
            if sub.number in (1, 2) and sub.wire == pb.LEN:
                self.tensor(sub)

    def tensor(self, f: pb.Field) -> None:
        name = ""
        location: str | None = None
        external_flag = False
        for sub in pb.fields(self.win, f.offset, f.end):  # raw_data (9) is skipped by offset, never read
            if sub.number == T_NAME and sub.wire == pb.LEN:
                name = pb.text(self.win, sub, 512)
            elif sub.number == T_LOCATION and sub.wire == pb.VARINT:
                external_flag = sub.value == 1
            elif sub.number == T_EXTERNAL and sub.wire == pb.LEN:
                key = value = ""
                for kv in pb.fields(self.win, sub.offset, sub.end):
                    if kv.number == 1 and kv.wire == pb.LEN:
                        key = pb.text(self.win, kv, 256)
                    elif kv.number == 2 and kv.wire == pb.LEN:
                        value = pb.text(self.win, kv, 8192)
                if key == "location":
                    location = value
        if location is None:
            if external_flag:
                self.ctx.add(
                    "onnx.external_data.invalid",
                    Category.FORMAT_ABUSE,
                    Severity.MEDIUM,
                    Verdict.SUSPICIOUS,
                    f"tensor {short(name, 80)} is marked EXTERNAL but has no location",
                )
            return
        self.external.append(location)
        if location_escapes(location):
            self.escapes += 1
            if self.escapes <= MAX_REPORTED:
                self.ctx.add(
                    "onnx.external_data.escape",
                    Category.FILESYSTEM,
                    Severity.CRITICAL,
                    Verdict.MALICIOUS,
                    "external data location points outside the model directory",
                    f"tensor {short(name, 80)}: location={short(location, 200)!r}",
                    offset=f.offset,
                )

    def report(self) -> None:
        for domain, op in list(self.custom.items())[:MAX_REPORTED]:
            self.ctx.add(
                "onnx.custom_domain",
                Category.CODE_EXECUTION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "operator from a non-standard domain (needs a native custom-op library)",
                f"domain {short(domain, 100)!r} op {short(op, 100)}",
            )
        if self.external:
            files = sorted(set(self.external))
            self.ctx.add(
                "onnx.external_data",
                Category.FILESYSTEM,
                Severity.INFO,
                Verdict.SAFE,
                f"model keeps tensor data in {len(files)} external file(s); scan them too",
                ", ".join(short(x, 80) for x in files[:10]),
            )


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan an ONNX model; see the module docstring for the rules."""
    walker = _Walker(reader, ctx)
    try:
        walker.model()
    except FormatError as exc:
        walker.report()
        ctx.unscannable("onnx.malformed", "ONNX protobuf could not be parsed", str(exc))
        return
    walker.report()


def external_locations(reader: Reader, ctx: ScanContext) -> list[str]:
    """External-data locations a model names (for routing its side files); findings are discarded."""
    scratch = ScanContext(limits=ctx.limits, path=ctx.path, deadline=ctx.deadline)
    walker = _Walker(reader, scratch)
    walker.model()
    return walker.external
