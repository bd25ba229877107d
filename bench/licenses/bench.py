"""License attribution bench: accuracy per layer and the 1,000-text-file timing.

    .venv/bin/python bench/licenses/bench.py

1. The 37 repository cases of tests/licenses/cases.py: declared / observed / effective /
   obligations / conflict right or wrong per case.
2. A perturbation corpus built from every catalog text: verbatim, reflowed+CRLF, headed, with a
   rider, word-edited, truncated → the right license and match kind.
3. Attribution of one repo with 1,000 text files (LICENSE, AUP, NOTICE and 997 other text files),
   through the whole engine (declared → observed → inherited → effective); target < 5 s.
4. The realistic model cards of tests/licenses/realistic.py (Falcon, OPT, ChatGLM3, CodeGeeX4, Baichuan 2,
   Yi, InternLM2, Qwen-1, DeepSeek-Coder, Codestral, Llama/Gemma fine-tunes, SD/SDXL/SD3.5, BLOOM,
   StarCoder, Phi, Nemotron, CC 2.0, Apache + riders …): per-layer accuracy against a careful reviewer.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from licenses.engine import AnalysisInput, analyse, load_catalog  # noqa: E402
from licenses.engine.observed import match_texts  # noqa: E402
from tests.licenses.cases import CASES  # noqa: E402
from tests.licenses.realistic import CARDS, HELD_OUT, layers  # noqa: E402
from tests.licenses.repos import readme, reflow, text  # noqa: E402


def layer_accuracy(catalog) -> dict[str, tuple[int, int]]:
    score = {k: [0, 0] for k in ("declared", "observed", "effective", "obligations", "conflict")}
    misses: list[str] = []
    for case in CASES:
        j = analyse(catalog, case.input()).as_json()
        obs = {(o["path"], o["license"], o["match"]) for o in j["observed"]}
        checks = {
            "declared": j["declared"] == case.declared,
            "observed": case.observed <= obs and (bool(case.observed) or not {o for o in obs if o[2] != "reference"}),
            "effective": j["effective"] == case.effective,
            "obligations": case.obligations <= set(j["obligations"]),
            "conflict": j["conflict"] is case.conflict
            and all(any(w in c for c in j["conflicts"]) for w in case.conflict_words),
        }
        for k, ok in checks.items():
            score[k][0] += ok
            score[k][1] += 1
            if not ok:
                misses.append(f"{case.name}: {k}")
    for m in misses:
        print("  miss:", m)
    return {k: (v[0], v[1]) for k, v in score.items()}


def perturbations(catalog, rng: random.Random) -> tuple[int, int, list[str]]:
    ok = total = 0
    misses = []
    for spec in catalog.licenses.values():
        if not spec.texts:
            continue
        body = spec.texts[0].text
        words = body.split()
        edited = words[:]
        for _ in range(max(3, len(words) // 150)):
            i = rng.randrange(len(edited))
            edited[i] = rng.choice(["hereby", "such", "any", "the", "licensee"])
        variants = {
            "exact": body,
            "exact-reflow": reflow(body, 55),
            "header": "This repository's weights are provided under the following terms. Read them before any use, "
            "including research, evaluation or commercial deployment of the model.\n\n" + body,
            "modified-rider": body + "\n\nADDITIONAL TERMS: the model may not be used for military purposes or for "
            "surveillance, and the licensee must report misuse within thirty days.\n",
            "modified-edits": " ".join(edited),
            "partial": body[: len(body) * 2 // 5],
        }
        for label, variant in variants.items():
            expect_kind = "policy" if spec.is_policy else label.split("-")[0]
            if spec.is_policy and label == "partial":
                expect_kind = "policy"
            found = match_texts(catalog, "LICENSE", variant)
            total += 1
            if found and found[0].license == spec.id and found[0].match == expect_kind:
                ok += 1
            else:
                got = (found[0].license, found[0].match) if found else None
                misses.append(f"{spec.id} {label}: got {got}")
    return ok, total, misses


def thousand_files(catalog) -> list[float]:
    rng = random.Random(7)
    vocab = ["model", "token", "data", "train", "eval", "prompt", "config", "layer", "weight", "batch", "score"]
    files: dict[str, str] = {}
    for i in range(997):
        paras = [" ".join(rng.choice(vocab) for _ in range(rng.randint(80, 400))) for _ in range(rng.randint(2, 8))]
        files[f"docs/part{i // 100}/notes_{i:04d}.{'md' if i % 3 else 'txt'}"] = "\n\n".join(paras)
    files["LICENSE"] = text("llama3.1")
    files["USE_POLICY.md"] = text("llama3.1-aup")
    files["NOTICE"] = "Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright © Meta Platforms, Inc.\n"
    size = sum(len(t) for t in files.values())
    data = AnalysisInput(
        repo_id="acme/Llama-3.1-big-repo",
        card_data={"license": "llama3.1"},
        card_markdown=readme({"license": "llama3.1"}, "# Big\n\nLicensed under the Llama 3.1 Community License.\n"),
        files=files,
    )
    times = []
    cpu = []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = analyse(catalog, data)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert result.resolution.effective == "llama3.1", result.resolution.effective
    print(f"  corpus: {len(files)} text files, {size / 1e6:.1f} MB; effective {result.resolution.effective}")
    print(f"  CPU time: {', '.join(f'{t:.2f}' for t in cpu)} s; load average {os.getloadavg()[0]:.1f}")
    return times


def realistic_accuracy(catalog, cards) -> dict[str, tuple[int, int]]:
    score: dict[str, list[int]] = {}
    for card in cards:
        result = analyse(catalog, card.input()).as_json()
        for layer, ok in layers(card, result).items():
            score.setdefault(layer, [0, 0])
            score[layer][0] += ok
            score[layer][1] += 1
            if not ok:
                print(f"  miss: {card.name}: {layer}")
    return {k: (v[0], v[1]) for k, v in score.items()}


def main() -> None:
    t0 = time.perf_counter()
    catalog = load_catalog()
    print(
        f"catalog: {len(catalog.licenses)} licenses, {len(catalog.texts)} texts, "
        f"{len(catalog.index)} shingles indexed in {time.perf_counter() - t0:.2f} s"
    )
    print(f"\n1. repository cases ({len(CASES)})")
    for layer, (ok, n) in layer_accuracy(catalog).items():
        print(f"  {layer:<12} {ok:>3}/{n:<3} {100 * ok / n:5.1f}%")
    print("\n2. perturbed catalog texts (license + match kind)")
    ok, n, misses = perturbations(catalog, random.Random(1))
    for m in misses[:15]:
        print("  miss:", m)
    print(f"  {ok}/{n} {100 * ok / n:.1f}%")
    print("\n3. one repository with 1,000 text files (whole engine)")
    times = thousand_files(catalog)
    print(f"  runs: {', '.join(f'{t:.2f}' for t in times)} s; median {statistics.median(times):.2f} s (target < 5 s)")
    for title, cards in (("realistic model cards", CARDS), ("held-out realistic cards", HELD_OUT)):
        print(f"\n4. {title} ({len(cards)})")
        for layer, (ok, n) in realistic_accuracy(catalog, cards).items():
            print(f"  {layer:<12} {ok:>3}/{n:<3} {100 * ok / n:5.1f}%")


if __name__ == "__main__":
    main()
