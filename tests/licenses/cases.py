"""The license-attribution cases: realistic repositories and what each layer must say about them.

Shared by tests/licenses/test_cases.py (pure engine) and bench/licenses/bench.py (accuracy per layer).
`observed` lists the (path, license, match) triples that must be found; `effective` is the exact
expression; `obligations` must be included; `conflict` is the boolean of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from licenses.engine import AnalysisInput, BaseInput
from tests.licenses.repos import mit, readme, reflow, text

GATED = "README.md#extra_gated_prompt"


@dataclass
class Case:
    name: str
    repo_id: str
    card: dict[str, Any] = field(default_factory=dict)
    body: str = "# Model\n\nA model card.\n"
    files: dict[str, str] = field(default_factory=dict)
    bases: list[BaseInput] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    # expectations
    declared: str | None = None
    observed: set[tuple[str, str, str]] = field(default_factory=set)
    effective: str = "unknown"
    obligations: set[str] = field(default_factory=set)
    conflict: bool = False
    conflict_words: list[str] = field(default_factory=list)

    def input(self) -> AnalysisInput:
        return AnalysisInput(
            repo_id=self.repo_id,
            card_data=self.card,
            card_markdown=readme(self.card, self.body),
            tags=self.tags,
            files=self.files,
            bases=self.bases,
        )


def _edit(body: str) -> str:
    return (
        body.replace("Meta Platforms, Inc.", "Meta Platforms Inc", 2)
        .replace("Agreement", "agreement", 6)
        .replace("shall", "will", 4)
    )


HEADER = (
    "Acme AI releases the model weights in this repository under the license below. Questions about "
    "these terms go to legal@acme.example. Please read the license carefully before using the model.\n\n"
)
RIDER = (
    "\n\nADDITIONAL RESTRICTIONS. In addition to the terms above, you may not use the model for military "
    "purposes, for biometric surveillance, or to generate political advertising.\n"
)
CUSTOM = (
    "ACME MODEL TERMS\n\nYou may use the model for internal evaluation. Redistribution of the weights requires "
    "written permission from Acme. Outputs may be used for any purpose. These terms are governed by the laws "
    "of the State of Delaware.\n"
)

CASES: list[Case] = [
    Case(
        "clean apache-2.0",
        "acme/bert-clean",
        card={"license": "apache-2.0"},
        files={"LICENSE": text("apache-2.0")},
        declared="apache-2.0",
        observed={("LICENSE", "apache-2.0", "exact")},
        effective="apache-2.0",
        obligations={"license-copy", "notice-retention", "modification-notice", "patent-termination"},
    ),
    Case(
        "clean MIT with filled-in placeholders",
        "acme/tiny-mit",
        card={"license": "mit"},
        files={"LICENSE": mit()},
        declared="mit",
        observed={("LICENSE", "mit", "exact")},
        effective="mit",
        obligations={"license-copy", "notice-retention"},
    ),
    Case(
        "clean upstream Llama 2 with AUP and gate prompt",
        "meta-llama/Llama-2-7b-chat-hf",
        card={
            "license": "llama2",
            "extra_gated_prompt": "### LLAMA 2 COMMUNITY LICENSE AGREEMENT\n" + text("llama2")[:2500],
        },
        files={"LICENSE.txt": text("llama2"), "USE_POLICY.md": text("llama2-aup")},
        declared="llama2",
        observed={
            ("LICENSE.txt", "llama2", "exact"),
            ("USE_POLICY.md", "llama2-aup", "policy"),
            (GATED, "llama2", "gated-prompt"),
        },
        effective="llama2",
        obligations={"user-threshold:700M", "no-output-for-training-other-models", "attribution-notice"},
    ),
    Case(
        "clean upstream Llama 3.1",
        "meta-llama/Llama-3.1-8B-Instruct",
        card={"license": "llama3.1"},
        files={"LICENSE": text("llama3.1"), "USE_POLICY.md": text("llama3.1-aup")},
        declared="llama3.1",
        observed={("LICENSE", "llama3.1", "exact"), ("USE_POLICY.md", "llama3.1-aup", "policy")},
        effective="llama3.1",
        obligations={"naming-requirement", "display-attribution", "user-threshold:700M"},
    ),
    Case(
        "Llama 3 LICENSE without the appended AUP",
        "meta-llama/Meta-Llama-3-8B",
        card={"license": "llama3"},
        files={"LICENSE": text("llama3").split("Meta Llama 3 Acceptable Use Policy")[0]},
        declared="llama3",
        observed={("LICENSE", "llama3", "exact")},
        effective="llama3",
        obligations={"naming-requirement"},
    ),
    Case(
        "declared Apache over a shipped Llama 2 text",
        "acme/chat-7b",
        card={"license": "apache-2.0"},
        files={"LICENSE": text("llama2")},
        declared="apache-2.0",
        observed={("LICENSE", "llama2", "exact")},
        effective="llama2",
        obligations={"user-threshold:700M"},
        conflict=True,
        conflict_words=["declared apache-2.0", "llama2"],
    ),
    Case(
        "MIT fine-tune of a Llama 3 base",
        "acme/helpful-8b",
        card={"license": "mit", "base_model": "meta-llama/Meta-Llama-3-8B"},
        files={"LICENSE": mit()},
        bases=[BaseInput("meta-llama/Meta-Llama-3-8B", "finetune", "llama3")],
        declared="mit",
        observed={("LICENSE", "mit", "exact")},
        effective="mit AND llama3",
        obligations={"naming-requirement", "no-output-for-training-other-models", "license-copy"},
        conflict=True,
        conflict_words=["weaker", "naming requirement"],
    ),
    Case(
        "properly named Llama 3 fine-tune",
        "acme/Llama-3-acme-8B",
        card={"license": "llama3", "base_model": "meta-llama/Meta-Llama-3-8B"},
        bases=[BaseInput("meta-llama/Meta-Llama-3-8B", "finetune", "llama3")],
        declared="llama3",
        effective="llama3",
        obligations={"naming-requirement"},
    ),
    Case(
        "LoRA adapter (Apache) on Gemma",
        "acme/gemma-lora-sql",
        card={"license": "apache-2.0", "base_model": "google/gemma-2-9b", "library_name": "peft"},
        bases=[BaseInput("google/gemma-2-9b", "adapter", "gemma")],
        declared="apache-2.0",
        effective="apache-2.0 AND gemma",
        obligations={"flow-down", "use-restrictions", "license-copy"},
        conflict=True,
        conflict_words=["weaker", "gemma"],
    ),
    Case(
        "GGUF quantization of Llama 3.1 (no files, name kept)",
        "community/Meta-Llama-3.1-8B-Instruct-GGUF",
        card={"license": "llama3.1", "base_model": "meta-llama/Llama-3.1-8B-Instruct"},
        bases=[BaseInput("meta-llama/Llama-3.1-8B-Instruct", "quantized", "llama3.1")],
        declared="llama3.1",
        effective="llama3.1",
        obligations={"naming-requirement"},
    ),
    Case(
        "merge with a non-commercial parent",
        "acme/merge-7b",
        card={"license": "apache-2.0", "base_model": ["acme/open-7b", "lab/research-7b"]},
        files={"LICENSE": text("apache-2.0")},
        bases=[BaseInput("acme/open-7b", "merge", "apache-2.0"), BaseInput("lab/research-7b", "merge", "cc-by-nc-4.0")],
        declared="apache-2.0",
        observed={("LICENSE", "apache-2.0", "exact")},
        effective="apache-2.0 AND cc-by-nc-4.0",
        obligations={"non-commercial", "attribution"},
        conflict=True,
        conflict_words=["cc-by-nc-4.0", "weaker"],
    ),
    Case(
        "edited Llama 3.1 text",
        "acme/llama-edited",
        card={"license": "llama3.1"},
        files={"LICENSE": _edit(text("llama3.1"))},
        declared="llama3.1",
        observed={("LICENSE", "llama3.1", "modified")},
        effective="llama3.1",
    ),
    Case(
        "Apache text with an appended rider",
        "acme/rider",
        card={"license": "apache-2.0"},
        files={"LICENSE": text("apache-2.0") + RIDER},
        declared="apache-2.0",
        observed={("LICENSE", "apache-2.0", "modified"), ("LICENSE", "LicenseRef-apache-2.0-rider", "modified")},
        effective="apache-2.0 AND LicenseRef-apache-2.0-rider",
        obligations={"use-restrictions", "license-copy"},
        conflict=True,
        conflict_words=["rider"],
    ),
    Case(
        "headed OpenRAIL-M text",
        "acme/sd-finetune",
        card={"license": "creativeml-openrail-m"},
        files={"LICENSE.md": HEADER + text("creativeml-openrail-m")},
        declared="creativeml-openrail-m",
        observed={("LICENSE.md", "creativeml-openrail-m", "header")},
        effective="creativeml-openrail-m",
        obligations={"use-restrictions", "flow-down"},
    ),
    Case(
        "truncated CC BY-NC text",
        "lab/research-7b",
        card={"license": "cc-by-nc-4.0"},
        files={"LICENSE": text("cc-by-nc-4.0")[:7000]},
        declared="cc-by-nc-4.0",
        observed={("LICENSE", "cc-by-nc-4.0", "partial")},
        effective="cc-by-nc-4.0",
        obligations={"non-commercial"},
    ),
    Case(
        "reflowed CRLF MIT text",
        "acme/reflowed",
        card={"license": "MIT"},
        files={"LICENSE.txt": reflow(mit("Jane Doe", "2023"), 50)},
        declared="mit",
        observed={("LICENSE.txt", "mit", "exact")},
        effective="mit",
    ),
    Case(
        "two license files: code MIT, weights DeepSeek",
        "deepseek-ai/deepseek-llm-7b-base",
        card={"license": "other", "license_name": "deepseek", "license_link": "LICENSE-MODEL"},
        files={"LICENSE-CODE": mit("DeepSeek", "2023"), "LICENSE-MODEL": text("deepseek")},
        declared="deepseek",
        observed={("LICENSE-CODE", "mit", "exact"), ("LICENSE-MODEL", "deepseek", "exact")},
        effective="deepseek AND mit",
        obligations={"use-restrictions", "notice-retention"},
    ),
    Case("nothing at all", "someone/mystery", effective="unknown"),
    Case(
        "prose mention only",
        "someone/prose",
        body="# Prose\n\nThis model is released under the Apache License, Version 2.0.\n",
        observed={("README.md", "apache-2.0", "reference")},
        effective="apache-2.0",
    ),
    Case(
        "badge only",
        "someone/badge",
        body="# Badge\n\n[![License: MIT](https://img.shields.io/badge/License-MIT-yellow.svg)](https://opensource.org/licenses/MIT)\n",
        observed={("README.md", "mit", "reference")},
        effective="mit",
    ),
    Case(
        "other with a name only",
        "acme/custom-named",
        card={"license": "other", "license_name": "acme-research-license"},
        declared="other",
        effective="other",
    ),
    Case(
        "other with an in-repo custom license file",
        "acme/custom-file",
        card={"license": "other", "license_name": "acme-model-terms", "license_link": "LICENSE.md"},
        files={"LICENSE.md": CUSTOM},
        declared="other",
        observed={("LICENSE.md", "other", "reference")},
        effective="other",
    ),
    Case(
        "other with license_link to an in-repo Qwen text",
        "Qwen/Qwen2.5-72B-Instruct",
        card={
            "license": "other",
            "license_name": "qwen",
            "license_link": "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE",
        },
        files={"LICENSE": text("qwen")},
        declared="qwen",
        observed={("LICENSE", "qwen", "exact")},
        effective="qwen",
        obligations={"user-threshold:100M"},
    ),
    Case(
        "other identified by the gated prompt (Mistral research)",
        "mistralai/Research-22B",
        card={
            "license": "other",
            "extra_gated_prompt": "By accessing the model you agree to the Mistral AI Research License "
            "(https://mistral.ai/licenses/MRL-0.1.md): research use only.",
        },
        declared="other",
        observed={(GATED, "mistral-research", "gated-prompt")},
        effective="mistral-research",
        obligations={"research-only", "no-commercial-use-of-output"},
    ),
    Case(
        "undeclared custom LICENSE file",
        "acme/custom-undeclared",
        files={"LICENSE": CUSTOM},
        observed={("LICENSE", "other", "reference")},
        effective="other",
    ),
    Case(
        "OR expression (dual licence)",
        "acme/dual",
        card={"license": "Apache-2.0 OR MIT"},
        declared="apache-2.0 OR mit",
        effective="apache-2.0 OR mit",
        obligations={"license-copy", "notice-retention"},
    ),
    Case(
        "YAML list of licenses",
        "acme/listed",
        card={"license": ["apache-2.0", "cc-by-nc-4.0"]},
        declared="apache-2.0 AND cc-by-nc-4.0",
        effective="apache-2.0 AND cc-by-nc-4.0",
        obligations={"non-commercial"},
    ),
    Case(
        "deprecated GPL-3.0 id",
        "acme/gpl",
        card={"license": "GPL-3.0"},
        declared="gpl-3.0",
        effective="gpl-3.0",
        obligations={"copyleft"},
    ),
    Case(
        "upper-case Llama 3.2 id",
        "acme/Llama-3.2-vision-ft",
        card={"license": "LLAMA3.2"},
        declared="llama3.2",
        effective="llama3.2",
        obligations={"geo-restriction:EU-multimodal"},
    ),
    Case(
        "license only in tags",
        "acme/tagged",
        tags=["license:openrail++", "text-to-image"],
        declared="openrail++",
        effective="openrail++",
    ),
    Case(
        "trained on Gemma outputs",
        "acme/distilled-3b",
        card={"license": "apache-2.0"},
        body="# Distilled\n\nWe fine-tuned this model on synthetic data generated by Gemma 2 27B.\n",
        declared="apache-2.0",
        effective="apache-2.0 AND gemma",
        obligations={"flow-down"},
        conflict=True,
        conflict_words=["gemma"],
    ),
    Case(
        "trained on Llama 2 outputs",
        "acme/distilled-llm",
        card={"license": "mit"},
        body="# Distilled\n\nThe training set consists of responses generated by Llama 2 70B chat.\n",
        declared="mit",
        effective="mit AND llama2",
        conflict=True,
        conflict_words=["outputs", "llama2"],
    ),
    Case(
        "placeholder Llama 2 base (name only)",
        "acme/llama2-ft",
        card={"license": "llama2", "base_model": "meta-llama/Llama-2-7b-hf"},
        bases=[BaseInput("meta-llama/Llama-2-7b-hf", "finetune", None, placeholder=True)],
        declared="llama2",
        effective="llama2",
    ),
    Case(
        "placeholder unknown base",
        "acme/derived",
        card={"license": "apache-2.0", "base_model": "someone/obscure-base"},
        bases=[BaseInput("someone/obscure-base", "finetune", None, placeholder=True)],
        declared="apache-2.0",
        effective="apache-2.0 AND unknown",
    ),
    Case(
        "transitive lineage (base already carries its own base)",
        "acme/grandchild",
        card={"license": "apache-2.0"},
        bases=[BaseInput("acme/child-of-llama2", "finetune", "apache-2.0 AND llama2")],
        declared="apache-2.0",
        effective="apache-2.0 AND llama2",
        conflict=True,
        conflict_words=["weaker"],
    ),
    Case(
        "share-alike base, permissive derivative",
        "acme/sa-derivative",
        card={"license": "mit"},
        bases=[BaseInput("lab/wiki-model", "finetune", "cc-by-sa-4.0")],
        declared="mit",
        effective="mit AND cc-by-sa-4.0",
        obligations={"share-alike"},
        conflict=True,
        conflict_words=["share-alike"],
    ),
    Case(
        "NOTICE file with the prescribed Llama 3 sentence",
        "acme/notice-only",
        files={
            "NOTICE": "Meta Llama 3 is licensed under the Meta Llama 3 Community License, Copyright © Meta "
            "Platforms, Inc. All Rights Reserved.\n"
        },
        observed={("NOTICE", "llama3", "reference")},
        effective="llama3",
    ),
    Case(
        "FLUX.1 [dev] text shipped as LICENSE.md",
        "acme/flux-lora",
        card={"license": "other", "license_name": "flux-1-dev-non-commercial-license", "license_link": "LICENSE.md"},
        files={"LICENSE.md": text("flux-1-dev-non-commercial")},
        declared="flux-1-dev-non-commercial",
        observed={("LICENSE.md", "flux-1-dev-non-commercial", "exact")},
        effective="flux-1-dev-non-commercial",
        obligations={"non-commercial", "non-production", "content-filter-required"},
    ),
]
