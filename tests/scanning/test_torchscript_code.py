"""TorchScript ``code/`` sources: host file I/O is malicious, real scripted/traced models stay safe.

Attack archives are written by the real ``torch.jit.script`` + ``torch.jit.save`` wherever torch can script
the call; torchvision's ``image::read_file`` / ``image::write_file`` are scripted against an operator
defined here with torchvision's schema (torchvision is not installed); forms torch cannot compile
(custom classes, ``torch.load``) are hand-written archives, as an attacker would write them.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from scanning.scanners import scan_file, scan_reader
from scanning.scanners.base import BytesReader, ScanResult, Severity, Verdict
from tests.scanning.corpus_pickle import torch_zip

_LIB: list[torch.library.Library] = []


def _image_ops() -> None:
    """Register ``image::read_file`` / ``image::write_file`` with torchvision's schemas (once per process)."""
    if _LIB or hasattr(torch.ops.image, "read_file"):
        return
    lib = torch.library.Library("image", "DEF")
    lib.define("read_file(str path) -> Tensor")
    lib.define("write_file(str path, Tensor data) -> ()", alias_analysis="CONSERVATIVE")  # has side effects
    _LIB.append(lib)


def save_script(module: torch.nn.Module | torch.jit.ScriptModule, path: Path) -> Path:
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
    torch.jit.save(scripted, str(path))
    return path


def code_of(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode() for n in z.namelist() if n.endswith(".py"))


def file_io(result: ScanResult) -> list[str]:
    return [f.evidence for f in result.findings if f.rule == "torchscript.file-io"]


# --- attacks ---------------------------------------------------------------------------------------------


class ReadsPasswd(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file("/etc/passwd", False, 64, dtype=torch.uint8)
        return x + t.sum()


class ReadsViaAtenOp(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.ops.aten.from_file("/root/.ssh/id_rsa", False, 64, dtype=torch.uint8)
        return x + t.float().mean()


class ReadsPathAttribute(torch.nn.Module):
    """The path lives in the pickled attributes, not in the code: the operator alone is the evidence."""

    def __init__(self) -> None:
        super().__init__()
        self.where = "/home/user/.aws/credentials"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.from_file(self.where, False, 16, dtype=torch.uint8).sum()


class WritesFile(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, "/tmp/dropped.pt")
        return x


class TorchvisionReadFile(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = torch.ops.image.read_file("/etc/shadow")
        return x + data.sum()


class TorchvisionWriteFile(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.ops.image.write_file("/home/user/.bashrc", x.to(torch.uint8))
        return x


@pytest.mark.parametrize(
    ("module", "op", "line"),
    [
        (ReadsPasswd, "aten::from_file", 'torch.from_file("/etc/passwd"'),
        (ReadsViaAtenOp, "aten::from_file", "/root/.ssh/id_rsa"),
        (ReadsPathAttribute, "aten::from_file", "torch.from_file(where, False, 16"),
        (WritesFile, "aten::save", 'torch.save(x, "/tmp/dropped.pt")'),
        (TorchvisionReadFile, "image::read_file", 'ops.image.read_file("/etc/shadow")'),
        (TorchvisionWriteFile, "image::write_file", 'ops.image.write_file("/home/user/.bashrc"'),
    ],
)
def test_scripted_file_io_is_malicious_with_the_line(
    tmp_path: Path, module: type[torch.nn.Module], op: str, line: str
) -> None:
    _image_ops()
    path = save_script(module(), tmp_path / "m.pt")
    assert line in code_of(path)  # torch really serialized the call we judge
    result = scan_file(path)
    assert (result.format, result.verdict) == ("torchscript", Verdict.MALICIOUS), result.findings
    hits = [f for f in result.findings if f.rule == "torchscript.file-io"]
    assert hits and all(op in f.message for f in hits), result.findings
    assert any(line in f.evidence for f in hits), file_io(result)
    assert all(f.member.endswith(".py") and f.offset is not None for f in hits)


def test_sensitive_path_in_code_is_reported_with_the_operator(tmp_path: Path) -> None:
    result = scan_file(save_script(ReadsPasswd(), tmp_path / "m.pt"))
    assert any(f.rule == "torchscript.sensitive-path" and "/etc/passwd" in f.message for f in result.findings)


@pytest.mark.parametrize(
    "code",
    [
        # forms torch.jit.script does not emit but its importer (or a reader of the code) would see
        b"def forward(self, x):\n    t = torch . from_file ('/etc/passwd', False, 8)\n    return x\n",
        b"def forward(self, x):\n    torch.ops.aten.save.default(x, '/tmp/x')\n    return x\n",
        b"def forward(self, x):\n    y = torch.load('/tmp/other.pt')\n    return x\n",
        # not Python syntax: the regex fallback still reads the operator
        b"def forward(self, x:\n    return torch.from_file('/etc/passwd', False, 8)\n",
    ],
)
def test_hand_written_file_io_forms(code: bytes) -> None:
    data = torch_zip({"data.pkl": pickle.dumps({}), "constants.pkl": pickle.dumps(()), "code/__torch__.py": code})
    result = scan_reader(BytesReader(data), "m.pt")
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert file_io(result)


def test_custom_class_namespace_is_suspicious() -> None:
    code = b"def forward(self, x):\n    r = torch.classes.evil.Reader('/data')\n    return x\n"
    data = torch_zip({"data.pkl": pickle.dumps({}), "constants.pkl": pickle.dumps(()), "code/__torch__.py": code})
    result = scan_reader(BytesReader(data), "m.pt")
    assert result.verdict is Verdict.SUSPICIOUS, result.findings
    assert any(f.rule == "torchscript.custom-op" and "'evil'" in f.message for f in result.findings)


# --- real models that must stay safe -----------------------------------------------------------------------


class BasicBlock(torch.nn.Module):
    """A ResNet basic block (conv-bn-relu x2 + identity shortcut)."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


class AtenMath(torch.nn.Module):
    """Calls aten operators directly, keeps a file name as a plain string attribute and has its own save_copy()."""

    def __init__(self) -> None:
        super().__init__()
        self.vocab_file = "vocab.txt"
        self.scale = torch.nn.Parameter(torch.ones(4))

    @torch.jit.export
    def save_copy(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.aten.mul(x, self.scale)
        y = torch.ops.aten.addmm(y, y, torch.ops.aten.t(y))
        return torch.ops.aten.softmax(self.save_copy(y), -1) + torch.ops.aten.layer_norm(y, [4])


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.emb = torch.nn.Embedding(10, 16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.enc(self.emb(ids))


def _quantized() -> torch.jit.ScriptModule:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return torch.jit.script(q)


BENIGN = {
    "scripted_block": lambda: torch.jit.script(BasicBlock().eval()),
    "traced_block": lambda: torch.jit.trace(BasicBlock().eval(), torch.ones(1, 8, 6, 6)),
    "traced_resnetish": lambda: torch.jit.trace(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), BasicBlock(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
        ).eval(),
        torch.ones(1, 3, 8, 8),
    ),
    "aten_math": lambda: torch.jit.script(AtenMath()),
    "scripted_encoder": lambda: torch.jit.script(Encoder().eval()),
    "frozen_block": lambda: torch.jit.freeze(torch.jit.script(BasicBlock().eval())),
    "quantized_dynamic": _quantized,
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(BENIGN))
def test_real_torchscript_models_are_safe(tmp_path: Path, name: str) -> None:
    path = save_script(BENIGN[name](), tmp_path / f"{name}.pt")
    result = scan_file(path)
    assert result.format == "torchscript"
    assert result.verdict is Verdict.SAFE, result.findings
    assert all(f.severity is Severity.INFO for f in result.findings), result.findings


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_benign_code_really_contains_aten_and_quantized_ops(tmp_path: Path) -> None:
    """The benign cases exercise what the rules look at (ops.* calls, torch.classes types)."""
    aten = code_of(save_script(BENIGN["aten_math"](), tmp_path / "a.pt"))
    assert "torch.addmm" in aten or "ops.aten" in aten
    quant = code_of(save_script(BENIGN["quantized_dynamic"](), tmp_path / "q.pt"))
    assert "ops.quantized." in quant and "torch.classes.quantized" in quant


def test_bytes_reader_same_as_file(tmp_path: Path) -> None:
    path = save_script(WritesFile(), tmp_path / "m.pt")
    buf = io.BytesIO(path.read_bytes())
    assert scan_reader(BytesReader(buf.getvalue()), "m.pt").verdict is Verdict.MALICIOUS


# --- lite interpreter (mobile) bytecode ---------------------------------------------------------------------


def save_lite(module: torch.nn.Module | torch.jit.ScriptModule, path: Path) -> Path:
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
    scripted._save_for_lite_interpreter(str(path))
    return path


def test_lite_bytecode_with_file_io_is_malicious_even_with_benign_code(tmp_path: Path) -> None:
    path = save_lite(ReadsPasswd(), tmp_path / "m.ptl")
    # the mobile runtime runs bytecode.pkl: replace every code/ source with a harmless one, keep the bytecode
    benign = b"class ReadsPasswd(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    return x\n"
    doctored = tmp_path / "doctored.ptl"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(doctored, "w") as dst:
        names = src.namelist()
        assert any(n.endswith("bytecode.pkl") for n in names)
        for name in names:
            dst.writestr(name, benign if name.endswith("code/__torch__.py") else src.read(name))
    for p in (path, doctored):
        result = scan_file(p)
        assert result.verdict is Verdict.MALICIOUS, result.findings
        hits = [f for f in result.findings if f.rule == "torchscript.file-io" and f.member.endswith("bytecode.pkl")]
        assert hits and hits[0].evidence == "aten::from_file", result.findings


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("name", ["scripted_block", "aten_math", "quantized_dynamic", "scripted_encoder"])
def test_real_lite_models_are_safe(tmp_path: Path, name: str) -> None:
    path = save_lite(BENIGN[name](), tmp_path / f"{name}.ptl")
    with zipfile.ZipFile(path) as z:
        assert any(n.endswith("bytecode.pkl") for n in z.namelist())
    result = scan_file(path)
    assert result.verdict is Verdict.SAFE, result.findings
    assert all(f.severity is Severity.INFO for f in result.findings), result.findings
