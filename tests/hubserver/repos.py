"""Builders of realistic generated repos for the test Hub.

Each builder returns a :class:`GeneratedRepo` (``files`` + ``card``), to feed
``hub_server.add_repo(repo_id, repo.files, card=repo.card)`` — or simply ``repo.add_to(hub_server)``.
Nothing here is ever unpickled or executed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from tests.hubserver.server import HubServer


@dataclass(frozen=True)
class GeneratedRepo:
    repo_id: str
    files: dict[str, bytes]
    card: str | None
    options: dict[str, Any] = field(default_factory=dict)  # extra add_repo() keyword arguments (gated, …)

    def __iter__(self):
        return iter((self.files, self.card))

    def add_to(self, server: HubServer, repo_id: str | None = None, **overrides: Any) -> str:
        """Register this repo on ``server`` (optionally under another id); return the commit."""
        return server.add_repo(repo_id or self.repo_id, self.files, card=self.card, **{**self.options, **overrides})


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]] | None = None, metadata: dict | None = None) -> bytes:
    """A valid safetensors file built by hand: u64-LE header length + JSON header + zeroed data.

    ``tensors`` maps name -> (dtype, shape); dtypes F32/F16/BF16/I64/I32/U8 are supported.
    """
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "F64": 8}
    tensors = tensors or {"embeddings.weight": ("F32", [4, 8]), "classifier.bias": ("F32", [2])}
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for dim in shape:
            n *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


def malicious_pickle_bytes(command: str = "true") -> bytes:
    """A raw protocol-2 pickle whose load would call ``os.system(command)`` — hand-assembled opcodes.

    PROTO 2, GLOBAL 'os system', BINUNICODE command, TUPLE1, REDUCE, STOP. Never load it.
    """
    arg = command.encode()
    return b"\x80\x02" + b"cos\nsystem\n" + b"X" + struct.pack("<I", len(arg)) + arg + b"\x85" + b"R" + b"."


TINY_BERT_CARD = """---
license: apache-2.0
language:
- en
library_name: transformers
pipeline_tag: fill-mask
tags:
- bert
- tiny
datasets:
- bookcorpus
- wikipedia
base_model:
- google-bert/bert-base-uncased
- google/bert_uncased_L-2_H-128_A-2
base_model_relation: merge
---

# tiny-bert

A tiny BERT for tests. Distilled from two BERT checkpoints on BookCorpus and English Wikipedia.

## Intended use

Masked-language modelling demos.
"""


def tiny_bert_repo(repo_id: str = "modelgate-test/tiny-bert") -> GeneratedRepo:
    config = {
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
        "hidden_size": 8,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "intermediate_size": 16,
        "vocab_size": 4,
        "max_position_embeddings": 16,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
    }
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}],
        "normalizer": {"type": "BertNormalizer", "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}},
    }
    files = {
        "config.json": json.dumps(config, indent=2).encode(),
        "model.safetensors": safetensors_bytes(),
        "tokenizer.json": json.dumps(tokenizer, indent=2).encode(),
    }
    return GeneratedRepo(repo_id, files, TINY_BERT_CARD, {"downloads": 1234, "likes": 5})


MALICIOUS_CARD = """---
license: mit
library_name: pytorch
tags:
- totally-safe
---

# helpful-model

Load with `torch.load("pytorch_model.bin")`.
"""


def malicious_pickle_repo(repo_id: str = "evil-org/helpful-model") -> GeneratedRepo:
    files = {
        "pytorch_model.bin": malicious_pickle_bytes("true"),
        "config.json": json.dumps({"model_type": "custom"}).encode(),
    }
    return GeneratedRepo(repo_id, files, MALICIOUS_CARD)


LLAMA2_LICENSE = """LLAMA 2 COMMUNITY LICENSE AGREEMENT
Llama 2 Version Release Date: July 18, 2023

"Agreement" means the terms and conditions for use, reproduction, distribution and modification of the
Llama Materials set forth herein.

2. Additional Commercial Terms. If, on the Llama 2 version release date, the monthly active users of the
products or services made available by or for Licensee, or Licensee's affiliates, is greater than 700
million monthly active users in the preceding calendar month, you must request a license from Meta.

[Short excerpt for tests; not the full agreement.]
"""

LLAMA_FINETUNE_CARD = """---
license: llama2
language:
- en
library_name: transformers
pipeline_tag: text-generation
base_model: meta-llama/Llama-2-7b-hf
base_model_relation: finetune
datasets:
- tatsu-lab/alpaca
tags:
- llama-2
- instruct
---

# llama-2-7b-support-ft

A support-desk fine-tune of Llama 2 7B. Use is subject to the Llama 2 Community License.
"""


def llama_finetune_repo(repo_id: str = "acme/llama-2-7b-support-ft") -> GeneratedRepo:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "vocab_size": 4}
    files = {
        "config.json": json.dumps(config, indent=2).encode(),
        "LICENSE": LLAMA2_LICENSE.encode(),
        "model.safetensors": safetensors_bytes({"lm_head.weight": ("F16", [4, 8])}),
        "generation_config.json": json.dumps({"do_sample": True, "temperature": 0.6}).encode(),
    }
    return GeneratedRepo(repo_id, files, LLAMA_FINETUNE_CARD, {"downloads": 42})


GATED_CARD = """---
license: other
license_name: acme-research-license
license_link: LICENSE
extra_gated_prompt: You agree to use this model for research only.
library_name: transformers
pipeline_tag: text-classification
---

# acme-gated-classifier

Access requires accepting the ACME research license.
"""


def gated_repo(repo_id: str = "acme/gated-classifier", gated: str = "manual") -> GeneratedRepo:
    files = {
        "config.json": json.dumps({"model_type": "bert"}).encode(),
        "LICENSE": b"ACME RESEARCH LICENSE\nResearch use only. No commercial use.\n",
        "model.safetensors": safetensors_bytes(),
    }
    return GeneratedRepo(repo_id, files, GATED_CARD, {"gated": gated})
