"""A demo organization with sample models generated locally (no network).

Every page has something real to show: a clean model, a malicious pickle (payload `os.system('true')`,
never executed), a license conflict (Apache declared over a Llama 2 text), an NSFW-flagged derivative,
remote code, and a quantized derivative. Files are written under `var/demo/` and imported through
the ordinary local-folder import, then run through the pipeline (scan, licenses, policies).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from django.conf import settings

from inventory import pipeline, services
from inventory.models import Application, Dataset, Organization

LICENSE_DATA = Path(settings.BASE_DIR) / "licenses" / "data"


def _license_text(license_id: str, fallback: str) -> str:
    for candidate in (LICENSE_DATA / f"{license_id}.txt", LICENSE_DATA / "texts" / f"{license_id}.txt"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return fallback


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A valid safetensors file with zero-filled tensors."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for dim in shape:
            n *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


def malicious_pickle() -> bytes:
    """Protocol-2 pickle whose load would call os.system('true'). Built from opcodes; never loaded."""
    return b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."


def _card(meta: dict[str, Any], body: str) -> str:
    import yaml

    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}\n"


def demo_repos() -> dict[str, dict[str, bytes | str]]:
    apache = _license_text("apache-2.0", "Apache License\nVersion 2.0, January 2004\n")
    llama2 = _license_text("llama2", "LLAMA 2 COMMUNITY LICENSE AGREEMENT\n")
    config = json.dumps({"architectures": ["BertForSequenceClassification"], "model_type": "bert"}).encode()
    weights = safetensors_bytes({"embeddings.weight": ("F32", [64, 16]), "classifier.weight": ("F32", [2, 16])})
    return {
        "acme-research/tiny-sentiment": {
            "README.md": _card(
                {
                    "license": "apache-2.0",
                    "datasets": ["stanfordnlp/imdb"],
                    "pipeline_tag": "text-classification",
                    "library_name": "transformers",
                    "tags": ["sentiment", "bert"],
                    "language": ["en"],
                },
                "# Tiny sentiment\n\nA small BERT classifier fine-tuned on IMDB reviews.\n\n"
                "## Intended use\nSentiment of English product reviews.\n\n## Limitations\nEnglish only.",
            ),
            "LICENSE": apache,
            "config.json": config,
            "model.safetensors": weights,
        },
        "evil-corp/llama-helper": {
            "README.md": _card(
                {"license": "mit", "pipeline_tag": "text-generation", "tags": ["pytorch"]},
                "# Llama helper\n\nFaster inference! Just `torch.load` the weights.",
            ),
            "config.json": json.dumps({"model_type": "llama"}).encode(),
            "pytorch_model.bin": malicious_pickle(),
        },
        "community/llama2-chat-ft": {
            "README.md": _card(
                {
                    "license": "apache-2.0",
                    "base_model": "meta-llama/Llama-2-7b-hf",
                    "base_model_relation": "finetune",
                    "datasets": ["OpenAssistant/oasst1"],
                    "pipeline_tag": "text-generation",
                    "tags": ["llama", "chat"],
                },
                "# Llama 2 chat fine-tune\n\nA chat fine-tune of Llama 2 7B.",
            ),
            "LICENSE.txt": llama2,
            "config.json": json.dumps({"model_type": "llama"}).encode(),
            "model.safetensors": safetensors_bytes({"lm_head.weight": ("F16", [32, 16])}),
        },
        "studio/anime-diffusion-xl": {
            "README.md": _card(
                {
                    "license": "creativeml-openrail-m",
                    "tags": ["stable-diffusion", "not-for-all-audiences"],
                    "base_model": "stabilityai/stable-diffusion-xl-base-1.0",
                    "pipeline_tag": "text-to-image",
                    "datasets": ["studio/anime-scrape-2024"],
                },
                "# Anime diffusion XL\n\nFine-tuned on scraped anime art.",
            ),
            "unet/diffusion_pytorch_model.safetensors": safetensors_bytes({"conv_in.weight": ("F16", [8, 4, 3, 3])}),
        },
        "labs/custom-arch-7b": {
            "README.md": _card(
                {"license": "other", "license_name": "labs-research-license", "pipeline_tag": "text-generation"},
                "# Custom architecture\n\nLoad with `trust_remote_code=True`.",
            ),
            "config.json": json.dumps(
                {"model_type": "custom", "auto_map": {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}}
            ).encode(),
            "modeling_custom.py": b"import torch\n\nclass CustomForCausalLM(torch.nn.Module):\n    pass\n",
            "model.safetensors": safetensors_bytes({"w": ("BF16", [16, 16])}),
        },
    }


def load_demo(*, root: Path | None = None, run_pipeline: bool = True) -> list[str]:
    """Write the demo repos, import them, wire them to applications. Idempotent."""
    root = root or Path(settings.BASE_DIR) / "var" / "demo"
    acme, _ = Organization.objects.get_or_create(slug="acme", defaults={"name": "Acme Corp"})
    research, _ = Organization.objects.get_or_create(
        slug="acme-research", defaults={"name": "Research", "parent": acme}
    )
    products, _ = Organization.objects.get_or_create(
        slug="acme-products", defaults={"name": "Products", "parent": acme}
    )
    support, _ = Application.objects.get_or_create(
        slug="support-assistant",
        defaults={
            "name": "Support assistant",
            "organization": products,
            "commercial_use": True,
            "monthly_active_users": 250_000,
            "annual_revenue_band": "lt1b",
            "serves_eu_users": True,
        },
    )
    lab, _ = Application.objects.get_or_create(
        slug="research-sandbox",
        defaults={
            "name": "Research sandbox",
            "organization": research,
            "commercial_use": False,
            "monthly_active_users": 40,
            "annual_revenue_band": "lt1m",
        },
    )
    imported = []
    for repo_id, files in demo_repos().items():
        folder = root / repo_id.replace("/", "--")
        for rel, content in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        app = lab if repo_id.startswith(("labs/", "studio/")) else support
        version, _ = services.import_from_folder(folder=str(folder), repo_id=repo_id, application=app)
        imported.append(version.pk)
    Dataset.objects.filter(repo_id="studio/anime-scrape-2024").update(
        flags=["nsfw", "license"], notes="Scraped without consent."
    )
    if run_pipeline:
        for version_id in imported:
            pipeline.run_all(version_id)
    return [str(v) for v in imported]
