"""What repository Python can do, and what shows it means harm: static AST analysis (never imported or run).

Repository Python that ``transformers`` runs under ``trust_remote_code`` routinely starts ``nvcc -V``,
fetches an image with ``requests``, loads a CUDA kernel (``torch.utils.cpp_extension.load``,
``cpm_kernels``) or imports modules by name. Those are **capabilities**: reported as suspicious, one
finding per kind listing the lines, so a reviewer sees what the code can do. **Malicious** is reserved
for evidence of intent:

* ``python.payload`` - a decoded or obfuscated payload reaches execution: ``exec``/``eval``/``compile``/
  ``marshal.loads``/``pickle.loads``/``types.FunctionType``… of ``base64``/``zlib``/``bz2``/``codecs``/
  ``bytes.fromhex``/``binascii`` output or of ``chr()``-built text, directly or through a variable of the
  same function. Decoding alone is not a finding (a tiktoken vocabulary is base64; ``bytes.decode`` is
  text decoding; ChatGLM decodes a CUDA fatbin it hands to a kernel loader).
* ``python.download_exec`` - downloaded content is executed: network output reaching ``exec``-like
  calls, a download and a process start / ``chmod`` / native load in the same function, or a shell
  command that pipes ``curl``/``wget`` into a shell.
* ``python.exfiltration`` - credentials or the environment are read (``HF_TOKEN``/``AWS_*``/``*_KEY``…,
  the whole ``os.environ``, ``~/.ssh``, ``~/.aws/credentials``, ``~/.netrc``, the Hugging Face token
  file, ``/etc/passwd``…) in the same function as a network send.
* ``python.persistence`` - crontab, shell rc files, systemd/autostart units, ``authorized_keys``,
  ``sitecustomize``/``.pth`` files written or installed.
* ``python.reverse_shell`` - a socket with ``os.dup2``/``pty.spawn`` in the same function, or shell
  one-liners (``/dev/tcp/``, ``nc -e``, ``bash -i``, ``mkfifo``).
* ``python.obfuscation`` - hiding what is called: ``sys.modules['os']``, ``globals()['__builtins__']``,
  ``getattr(__builtins__, 'ev' + 'al')``, ``__subclasses__()`` walks, frame globals.

Capabilities (suspicious): ``python.process``, ``python.network``, ``python.native``,
``python.code_exec``, ``python.internals``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

PROCESS_CALLS = {
    "os.system",
    "os.popen",
    "os.execv",
    "os.execve",
    "os.execl",
    "os.execle",
    "os.execlp",
    "os.execvp",
    "os.execvpe",
    "os.spawnl",
    "os.spawnv",
    "os.spawnve",
    "os.spawnlp",
    "os.spawnvp",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "posix.system",
    "nt.system",
    "commands.getoutput",
    "platform.popen",
}
PROCESS_MODULES = {"subprocess", "pexpect", "sh", "plumbum"}
NATIVE_CALLS = {
    "ctypes.CDLL",
    "ctypes.cdll.LoadLibrary",
    "ctypes.PyDLL",
    "ctypes.WinDLL",
    "ctypes.windll.LoadLibrary",
    "ctypes.cdll",
    "torch.utils.cpp_extension.load",
    "torch.utils.cpp_extension.load_inline",
    "torch.ops.load_library",
    "cpm_kernels.kernels.base.LazyKernelCModule",
    "cupy.RawKernel",
    "cupy.RawModule",
    "_ctypes.dlopen",
}
CODE_EXEC_CALLS = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "execfile",
    "builtins.eval",
    "builtins.exec",
    "builtins.compile",
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "marshal.loads",
    "pickle.loads",
    "pickle.load",
    "cPickle.loads",
    "dill.loads",
    "runpy.run_path",
    "runpy.run_module",
    "types.FunctionType",
    "types.CodeType",
}
# Calls whose argument, if it is a decoded/downloaded payload, runs it.
EXEC_SINKS = CODE_EXEC_CALLS - {"importlib.import_module", "importlib.__import__"}
NETWORK_MODULES = {
    "socket",
    "urllib",
    "urllib2",
    "urllib3",
    "requests",
    "httpx",
    "http",
    "aiohttp",
    "ftplib",
    "telnetlib",
    "smtplib",
    "paramiko",
    "websocket",
    "websockets",
}
NETWORK_HARMLESS = ("urllib.parse", "http.HTTPStatus", "requests.exceptions", "http.cookies", "socket.gethostname")
DOWNLOAD_TO_FILE = {"urllib.request.urlretrieve", "urllib.urlretrieve", "wget.download"}
DECODERS = {
    "base64.b64decode",
    "base64.b32decode",
    "base64.b16decode",
    "base64.a85decode",
    "base64.b85decode",
    "base64.decodebytes",
    "base64.urlsafe_b64decode",
    "base64.standard_b64decode",
    "codecs.decode",
    "zlib.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "gzip.decompress",
    "bytes.fromhex",
    "bytearray.fromhex",
    "binascii.unhexlify",
    "binascii.a2b_base64",
    "binascii.a2b_hex",
}
# Reaching these names hides what is called (sandbox escapes, builtins smuggling, frame walking).
EVASIVE_NAMES = {"__builtins__", "__subclasses__", "f_globals", "f_builtins", "gi_frame", "tb_frame", "f_back"}
# Interpreter internals with legitimate uses (introspection of a forward() signature, custom pickling).
INTERNAL_NAMES = {"__globals__", "__code__", "co_code", "func_globals", "__reduce__", "__reduce_ex__"}
_SECRET_ENV = re.compile(
    r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|SESSION|^AWS_|^HF_|HUGGING|OPENAI|ANTHROPIC|"
    r"GITHUB|WANDB_API|AZURE_|GOOGLE_APPLICATION",
    re.IGNORECASE,
)
_SECRET_FILE = re.compile(
    r"\.ssh\b|id_rsa|id_ed25519|\.aws/credentials|\.aws\b|\.netrc|\.git-credentials|huggingface/token|"
    r"\.huggingface|/etc/shadow|/etc/passwd|\.bash_history|\.zsh_history|\.docker/config\.json|\.kube/config|"
    r"\.pypirc|\.npmrc|\.config/gcloud|keychain|wallet\.dat"
)
_PERSISTENCE = re.compile(
    r"crontab|/etc/cron|/var/spool/cron|\.bashrc|\.bash_profile|\.bash_login|(?:^|/)\.profile\b|\.zshrc|\.zprofile|"
    r"\.config/autostart|/etc/systemd|\.config/systemd|systemctl\s+(?:--user\s+)?enable|/etc/rc\.local|"
    r"/etc/init\.d|authorized_keys|LaunchAgents|LaunchDaemons|/etc/profile\.d|sitecustomize|usercustomize|"
    r"site-packages/[^/]*\.pth|CurrentVersion\\\\?Run"
)
_PIPE_TO_SHELL = re.compile(r"\b(?:curl|wget|fetch)\b[^|;&]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b")
_SHELL_ONELINER = re.compile(r"/dev/tcp/|/dev/udp/|\bnc(?:at)?\b[^|;&]*\s-[ec]\b|\b(?:ba)?sh\s+-i\b|\bmkfifo\b|socat\b")
_SHELL_PATH = re.compile(r"^/bin/(?:ba|z|da)?sh$|^(?:ba|z)?sh$|cmd\.exe$|powershell")
_WRITE_MODE = re.compile(r"[wax+]")
REMOTE_CODE_BASES = re.compile(r"^(PreTrained|Pretrained)\w*$|^(ProcessorMixin|GenerationMixin|PretrainedConfig)$")
_ENVIRON_DUMPS = {"os.environ.copy", "os.environ.items", "os.environ.values", "os.environ.keys"}


@dataclass
class Hit:
    kind: str
    evidence: str
    line: int
    scope: str


@dataclass
class _Scope:
    decoded: set[str] = field(default_factory=set)  # names assigned a decoder's output
    downloaded: set[str] = field(default_factory=set)  # names assigned a network response
    kinds: dict[str, list[Hit]] = field(default_factory=dict)

    def add(self, hit: Hit) -> None:
        self.kinds.setdefault(hit.kind, []).append(hit)


class Analysis(ast.NodeVisitor):
    """Walk one module; ``capabilities`` and ``intents`` (rule -> evidence lines) once :meth:`run` returns."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star: list[str] = []  # modules imported with ``from m import *``
        self.remote_bases: list[str] = []
        self.scopes: dict[str, _Scope] = {"<module>": _Scope()}
        self._stack: list[str] = ["<module>"]
        self._exec_args: list[tuple[ast.Call, str, str]] = []  # (call, name, scope) for taint checks
        self.intents: dict[str, list[Hit]] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def scope(self) -> str:
        return self._stack[-1]

    def _hit(self, kind: str, evidence: str, line: int) -> None:
        self.scopes.setdefault(self.scope, _Scope()).add(Hit(kind, evidence, line, self.scope))

    def _intent(self, rule: str, evidence: str, line: int) -> None:
        self.intents.setdefault(rule, []).append(Hit(rule, evidence, line, self.scope))

    def run(self, tree: ast.AST) -> Analysis:
        self.visit(tree)
        self._correlate()
        return self

    def capabilities(self) -> dict[str, list[Hit]]:
        out: dict[str, list[Hit]] = {}
        for scope in self.scopes.values():
            for kind, hits in scope.kinds.items():
                if kind in ("process", "network", "native", "code_exec", "internals"):
                    out.setdefault(kind, []).extend(hits)
        return out

    # ------------------------------------------------------------------ names

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            root = a.name.split(".")[0]
            if root in PROCESS_MODULES:
                self._hit("process", f"import {a.name}", node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            if a.name == "*":
                self.star.append(mod)
                continue
            full = f"{mod}.{a.name}" if mod else a.name
            self.aliases[a.asname or a.name] = full
            if full.split(".")[0] in PROCESS_MODULES or full in PROCESS_CALLS:
                self._hit("process", f"from {mod} import {a.name}", node.lineno)

    def resolve(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            if node.id not in self.aliases:
                for mod in self.star:  # from os import *; system("id")
                    if f"{mod}.{node.id}" in PROCESS_CALLS | CODE_EXEC_CALLS:
                        return f"{mod}.{node.id}"
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else ""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value
        return ""

    # ------------------------------------------------------------------ scopes

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._stack.append(f"{self.scope}.{node.name}" if self.scope != "<module>" else node.name)
        self.scopes.setdefault(self.scope, _Scope())
        self.generic_visit(node)
        self._stack.pop()

    visit_FunctionDef = _visit_scope
    visit_AsyncFunctionDef = _visit_scope

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            name = self.resolve(base).rsplit(".", 1)[-1]
            if REMOTE_CODE_BASES.match(name):
                self.remote_bases.append(f"class {node.name}({name})")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._taint(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._taint([node.target], node.value)
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._taint([item.optional_vars], item.context_expr)
        self.generic_visit(node)

    def _taint(self, targets: list[ast.expr], value: ast.AST) -> None:
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if not names:
            return
        scope = self.scopes.setdefault(self.scope, _Scope())
        if self._contains_decoder(value, scope):
            scope.decoded.update(names)
        if self._contains_network(value, scope):
            scope.downloaded.update(names)

    # ------------------------------------------------------------------ evidence of data

    def _calls(self, node: ast.AST) -> list[ast.Call]:
        return [n for n in ast.walk(node) if isinstance(n, ast.Call)]

    def _contains_decoder(self, node: ast.AST, scope: _Scope) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and (self.resolve(n.func) in DECODERS or _is_chr_join(n, self)):
                return True
            if isinstance(n, ast.Name) and n.id in scope.decoded | self.scopes["<module>"].decoded:
                return True
        return False

    def _contains_network(self, node: ast.AST, scope: _Scope) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and self._is_network(self.resolve(n.func)):
                return True
            if isinstance(n, ast.Name) and n.id in scope.downloaded | self.scopes["<module>"].downloaded:
                return True
        return False

    @staticmethod
    def _is_network(name: str) -> bool:
        return name.split(".")[0] in NETWORK_MODULES and not name.startswith(NETWORK_HARMLESS)

    # ------------------------------------------------------------------ calls and names

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in EVASIVE_NAMES:
            self._intent("python.obfuscation", f"….{node.attr}", node.lineno)
        elif node.attr in INTERNAL_NAMES:
            self._hit("internals", f"….{node.attr}", node.lineno)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in EVASIVE_NAMES:
            self._intent("python.obfuscation", node.id, node.lineno)
        elif node.id in INTERNAL_NAMES:
            self._hit("internals", node.id, node.lineno)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) < 4096:
            text = node.value
            if _SECRET_FILE.search(text):
                self._hit("secret_file", repr(text[:80]), node.lineno)
            if _PERSISTENCE.search(text):
                self._hit("persistence_path", repr(text[:80]), node.lineno)
            if _SHELL_ONELINER.search(text):
                self._hit("shell_oneliner", repr(text[:80]), node.lineno)
            if _SHELL_PATH.search(text):
                self._hit("shell_path", repr(text[:80]), node.lineno)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            base = self.resolve(node.value)
            target = key.value
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
                base = node.value.func.id  # globals()[…], vars()[…], locals()[…]
            if target in EVASIVE_NAMES or (
                (base in ("sys.modules", "globals", "vars") or base.endswith(("__dict__", "__globals__")))
                and (
                    target in PROCESS_MODULES
                    or target in ("os", "builtins", "__builtins__", "posix", "nt")
                    or target in CODE_EXEC_CALLS
                )
            ):
                self._intent("python.obfuscation", f"{base}[{target!r}]", node.lineno)
            elif base == "os.environ" and _SECRET_ENV.search(target):
                self._hit("secret_env", f"os.environ[{target!r}]", node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        root = name.split(".")[0]
        line = node.lineno
        shown = f"{name or _short_src(node.func)}(…)"
        if name in PROCESS_CALLS or root in PROCESS_MODULES:
            self._hit("process", shown, line)
            command = " ".join(_strings(node))
            if _PIPE_TO_SHELL.search(command):
                self._intent("python.download_exec", f"{shown}: {command[:100]!r}", line)
            if _SHELL_ONELINER.search(command):
                self._intent("python.reverse_shell", f"{shown}: {command[:100]!r}", line)
        elif name in NATIVE_CALLS or name.endswith(("cpp_extension.load", "cpp_extension.load_inline")):
            self._hit("native", shown, line)
        elif name in CODE_EXEC_CALLS or name.endswith(".__import__"):
            self._hit("code_exec", shown, line)
            if name in EXEC_SINKS or name.endswith(".__import__"):
                self._exec_args.append((node, shown, self.scope))
        elif self._is_network(name):
            self._hit("network", shown, line)
        if name in DOWNLOAD_TO_FILE:
            self._hit("download_file", shown, line)
        if name in ("os.chmod", "os.fchmod") or (isinstance(node.func, ast.Attribute) and node.func.attr == "chmod"):
            self._hit("chmod", shown, line)
        if name in ("os.dup2",):
            self._hit("dup2", shown, line)
        if name == "pty.spawn":
            self._hit("pty", shown, line)
        if name in ("socket.socket", "socket.create_connection") or (
            isinstance(node.func, ast.Attribute) and node.func.attr == "connect" and "socket" in self.aliases.values()
        ):
            self._hit("socket", shown, line)
        if name in ("os.getenv", "os.environ.get", "os.getenvb") and node.args:
            key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and _SECRET_ENV.search(key.value):
                self._hit("secret_env", f"{name}({key.value!r})", line)
        if name in _ENVIRON_DUMPS or any(
            self.resolve(a) == "os.environ" for a in [*node.args, *(k.value for k in node.keywords)]
        ):
            self._hit("environ", f"the whole environment ({shown})", line)
        if self._is_write(node, name):
            self._hit("write", shown, line)
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            self._getattr_call(node)
        self.generic_visit(node)

    def _is_write(self, node: ast.Call, name: str) -> bool:
        if name in ("open", "io.open", "os.open", "codecs.open") or (
            isinstance(node.func, ast.Attribute) and node.func.attr == "open"
        ):
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            return (
                isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(_WRITE_MODE.search(mode.value))
            )
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("write_text", "write_bytes", "symlink_to"):
            return True
        return name.startswith(("shutil.copy", "shutil.move", "os.rename", "os.replace", "os.symlink"))

    def _getattr_call(self, node: ast.Call) -> None:
        target = self.resolve(node.args[0])
        attr = node.args[1]
        line = node.lineno
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            full = f"{target}.{attr.value}"
            if full in PROCESS_CALLS or target.split(".")[0] in PROCESS_MODULES:
                self._hit("process", f"getattr({target}, {attr.value!r})", line)
            elif full in CODE_EXEC_CALLS or (
                target in ("builtins", "__builtins__") and f"{attr.value}" in CODE_EXEC_CALLS
            ):
                self._hit("code_exec", f"getattr({target}, {attr.value!r})", line)
        elif target in ("builtins", "__builtins__", "os", "subprocess", "sys"):
            self._intent("python.obfuscation", f"getattr({target}, <computed name>)", line)

    # ------------------------------------------------------------------ intent

    def _correlate(self) -> None:
        module = self.scopes["<module>"]
        for call, shown, scope_name in self._exec_args:
            scope = self.scopes.get(scope_name, module)
            args: list[ast.AST] = [*call.args, *(k.value for k in call.keywords)]
            for arg in args:
                if self._contains_decoder(arg, scope):
                    self._intent("python.payload", f"{shown} of a decoded/obfuscated payload", call.lineno)
                    break
                if self._contains_network(arg, scope):
                    self._intent("python.download_exec", f"{shown} of downloaded content", call.lineno)
                    break
        for name, scope in self.scopes.items():
            k = scope.kinds
            where = "module level" if name == "<module>" else f"in {name}()"
            net = k.get("network", []) + k.get("download_file", [])
            secrets = k.get("secret_env", []) + k.get("secret_file", []) + _environ_dumps(k)
            if net and secrets:
                self._intent(
                    "python.exfiltration",
                    f"{where}: reads {secrets[0].evidence} and sends over the network ({net[0].evidence})",
                    secrets[0].line,
                )
            downloads = k.get("download_file", []) + (k.get("network", []) if k.get("write") else [])
            runs = k.get("process", []) + k.get("chmod", []) + k.get("native", [])
            if downloads and runs and (k.get("download_file") or k.get("write")):
                self._intent(
                    "python.download_exec",
                    f"{where}: downloads ({downloads[0].evidence}) and runs ({runs[0].evidence})",
                    runs[0].line,
                )
            if k.get("persistence_path") and (k.get("write") or k.get("process")):
                act = (k.get("write") or k.get("process") or [])[0]
                self._intent(
                    "python.persistence",
                    f"{where}: {k['persistence_path'][0].evidence} with {act.evidence}",
                    act.line,
                )
            sock = k.get("socket", [])
            shell = k.get("dup2", []) + k.get("pty", []) + (k.get("shell_path", []) if k.get("process") else [])
            if sock and shell:
                self._intent(
                    "python.reverse_shell",
                    f"{where}: socket ({sock[0].evidence}) wired to a shell ({shell[0].evidence})",
                    shell[0].line,
                )
            if k.get("shell_oneliner") and (k.get("process") or sock):
                self._intent(
                    "python.reverse_shell", f"{where}: {k['shell_oneliner'][0].evidence}", k["shell_oneliner"][0].line
                )


def _environ_dumps(kinds: dict[str, list[Hit]]) -> list[Hit]:
    """``os.environ`` used whole (``dict(os.environ)``, ``os.environ.copy()``), not ``os.environ[...]``."""
    return kinds.get("environ", [])


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _is_chr_join(call: ast.Call, analysis: Analysis) -> bool:
    """``''.join(chr(c) for c in [...])`` / ``''.join(map(chr, …))``: text built from code points."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "join"):
        return False
    return any(isinstance(n, ast.Name) and n.id == "chr" for n in ast.walk(call))


def _short_src(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:  # pragma: no cover - unparse of a parsed tree does not fail in practice
        return type(node).__name__
