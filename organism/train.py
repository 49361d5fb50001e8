"""Train the model organism: a small Qwen2-Audio-architecture model, from scratch, on procedural scenes.

Usage (from the repository root)::

    python organism/train.py --out out/organism --export out/stage1   # trains, checkpoints, exports
    python organism/train.py --out out/organism --export out/stage1   # rerun: resumes from its checkpoint

The export replaces its folder whole, so a folder that holds a ``wheretolisten.json`` (a checkpoint's
declared settings, as the package's asset folder does) is refused before training starts: export
elsewhere and copy the weights in.

The model is ``Qwen2AudioForConditionalGeneration`` with a 10-s encoder window (1000 mel frames, 250
audio tokens of 40 ms) and a small config (see ``SIZE``). Every scene is 10 s of procedural audio
(``scenes.make_scene`` with ``ProceduralBank``); training scene k is seeded by
``scene_seed(TRAIN_SEED_BASE, k)`` with ``TRAIN_SEED_BASE = 1_000_000``, so it never coincides with the
dev (base 50_000) or held-out test (base 0) scenes used by ``organism/evaluate.py`` and the tests.

Each step takes ``--scenes`` scenes (half new, half revisited from a recent window, so the slow scene
synthesis is amortized) and asks ``--questions`` questions about each: describe all events in order,
"Listen for {query}." → "3.4 to 5.0 seconds.", "Is there {query} in the recording?" → "Yes."/"No.",
"When does {query} start and end?", "What sound plays at 3.5 seconds?". The loss is on answer tokens
only, plus two training-only auxiliary classifiers (``WordTiedHead``; not exported): one labels every
audio token with its class, one asks the last prompt token after decoder layer ``QUERY_LAYER`` which
sound the instruction names (organism/README.md says why: without them the decoder never learned to
answer about a named sound in the time available).
Since the prompt puts the audio before the question, the system prompt and audio block are run
once per scene and their key/value cache is shared by all questions about that scene (exact: the
same logits and gradients as running every question as a separate sequence).

Determinism: the scene stream, the questions and the initialization depend only on ``--seed`` and
the step number, so a run resumed from a checkpoint continues the same stream.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine, spinning workers of
# several processes make every parallel region wait for a descheduled thread (10x slower steps).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import shutil
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoProcessor, DynamicCache, Qwen2AudioForConditionalGeneration

from wheretolisten.models.tiny import build_processor, build_tiny_model, build_tokenizer
from wheretolisten.organism import TRAIN_SEED_BASE
from wheretolisten.scenes import ProceduralBank, Scene, make_scene, scene_seed
from wheretolisten.scenes.options import SceneOptions

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXPORT = REPO / "src" / "wheretolisten" / "assets" / "organism"

#: Model size (keys of ``models.tiny.tiny_config``).
SIZE = {"enc_dim": 128, "enc_layers": 2, "enc_heads": 4, "dim": 160, "layers": 6, "heads": 5, "ffn": 480}
CHUNK_S = 10
DURATION_S = 10.0
SAMPLE_RATE = 16000
VOCAB_SIZE = 640
#: Decoder layer whose output, at the last prompt token, the query head reads (the steering layer
#: that ``localize.default_layers`` picks for a 6-layer decoder).
QUERY_LAYER = 2
#: Number of events per training scene and its probability (held-out scenes have 3).
N_EVENTS = ((1, 0.1), (2, 0.2), (3, 0.5), (4, 0.2))

DESCRIBE = ("Describe the audio.", "What do you hear?", "Listen to the recording.")
LISTEN = ("Listen for {query}.", "Focus on the sound of {query}.", "Pay attention to {query}.")
PRESENT = "Is there {query} in the recording?"
WHEN = "When does {query} start and end?"
WHAT_AT = "What sound plays at {t:.1f} seconds?"
#: Task name and sampling weight of each question.
TASKS = (("listen", 3.0), ("describe", 1.0), ("present", 2.0), ("when", 1.0), ("what_at", 1.0))


# ---- questions ------------------------------------------------------------------------------------


def _seconds(x: float) -> str:
    return f"{x:.1f}"


def describe_answer(scene: Scene) -> str:
    """All events in temporal order."""
    return "I hear " + ", then ".join(e.query for e in scene.events) + "."


def make_question(
    task: str, scene: Scene, queries: Sequence[str], rng: np.random.Generator
) -> tuple[str, str]:
    """One (instruction, answer) pair of ``task`` about ``scene``."""
    events = scene.events
    present = {e.query for e in events}
    absent = [q for q in queries if q not in present]
    if task == "describe":
        return DESCRIBE[int(rng.integers(len(DESCRIBE)))], describe_answer(scene)
    if task == "listen":
        template = LISTEN[int(rng.integers(len(LISTEN)))]
        if absent and rng.random() < 0.1:
            return template.format(query=absent[int(rng.integers(len(absent)))]), "Not present."
        e = events[int(rng.integers(len(events)))]
        return template.format(query=e.query), f"{_seconds(e.onset_s)} to {_seconds(e.offset_s)} seconds."
    if task == "present":
        if absent and rng.random() < 0.5:
            return PRESENT.format(query=absent[int(rng.integers(len(absent)))]), "No."
        e = events[int(rng.integers(len(events)))]
        return PRESENT.format(query=e.query), "Yes."
    if task == "when":
        e = events[int(rng.integers(len(events)))]
        return WHEN.format(query=e.query), f"From {_seconds(e.onset_s)} to {_seconds(e.offset_s)} seconds."
    if task == "what_at":
        if rng.random() < 0.7:
            e = events[int(rng.integers(len(events)))]
            t = rng.uniform(e.onset_s + 0.1, max(e.onset_s + 0.1, e.offset_s - 0.1))
        else:
            t = rng.uniform(0.0, scene.duration_s - 0.1)
        t = round(t, 1)
        hit = [e for e in events if e.onset_s <= t < e.offset_s]
        return WHAT_AT.format(t=t), (hit[0].query + "." if hit else "Nothing.")
    raise ValueError(f"unknown task {task!r}")


def query_index(instruction: str, queries: Sequence[str]) -> int:
    """Index of the sound an instruction names, or ``len(queries)`` when it names none."""
    named = [i for i, q in enumerate(queries) if f" {q}" in instruction]
    return named[0] if len(named) == 1 else len(queries)


def corpus(queries: Sequence[str]) -> list[str]:
    """Every instruction and answer form, so that the tokenizer learns merges for all of them."""
    lines = ["system", "user", "assistant", "You are a helpful assistant.", "Audio 1:"]
    lines += [*DESCRIBE, "Yes.", "No.", "Not present.", "Nothing."]
    for q in queries:
        lines += [t.format(query=q) for t in LISTEN]
        lines += [PRESENT.format(query=q), WHEN.format(query=q), q + ".", f"I hear {q}, then {q}."]
    lines += [f"{a}.{b} to {b}.{a} seconds." for a in range(10) for b in range(10)]
    lines += [f"From {a}.{b} to {b}.{a} seconds." for a in range(10) for b in range(10)]
    lines += [WHAT_AT.format(t=a + b / 10) for a in range(10) for b in range(10)]
    return lines


# ---- data -----------------------------------------------------------------------------------------


def n_events_for(k: int, base: int = TRAIN_SEED_BASE) -> int:
    rng = np.random.default_rng([base, k, 1])
    values, probs = zip(*N_EVENTS, strict=True)
    return int(rng.choice(values, p=probs))


#: Backgrounds of the varied scenes of the noise stage (``--varied``) and their probabilities.
VARIED_BACKGROUNDS = (("none", 0.2), ("white", 0.25), ("pink", 0.1), ("brown", 0.05), ("babble", 0.25),
                      ("sounds", 0.15))
#: Background level range of the varied scenes, dB relative to an event at level 0 (the scene options'
#: own bounds); levels are drawn as hi - (hi - lo) * u**2, so half of them lie within a quarter of the
#: range of the loudest.
VARIED_BACKGROUND_DB = (-40.0, -10.0)


def scene_options_for(k: int, base: int, varied: float) -> SceneOptions | None:
    """Layout of training scene k: None (the original quiet, slotted scene) or, with probability
    ``varied``, a drawn one: a background (noise, babble, other sounds) from -40 to -10 dB, free placement
    with overlaps in half of them, per-event levels over ±10 dB (±20 dB for a lone event)."""
    rng = np.random.default_rng([base, k, 4])
    if rng.random() >= varied:
        return None
    names, probs = zip(*VARIED_BACKGROUNDS, strict=True)
    background = str(rng.choice(names, p=probs))
    free = bool(rng.random() < 0.5)
    spread = 20.0 if n_events_for(k, base) == 1 else 10.0
    lo, hi = VARIED_BACKGROUND_DB
    level = round(hi - (hi - lo) * float(rng.random()) ** 2, 3)
    return SceneOptions(
        placement="free" if free else "slots",
        max_overlap=0.5 if free else 0.0,
        level_db=(-spread, spread),
        background=background,
        background_db=(level, level),
        event_s=(1.0, 2.5),
    )


class SceneSource:
    """Training scene k (features and ground truth), generated deterministically and cached.

    ``base`` seeds the stream (``scene_seed(base, k)``); ``varied`` is the share of scenes with a drawn
    layout (``scene_options_for``), 0 for the original training run.
    """

    def __init__(
        self, processor: Any, capacity: int, base: int = TRAIN_SEED_BASE, varied: float = 0.0
    ) -> None:
        self.bank = ProceduralBank()
        self.fe = processor.feature_extractor
        self.capacity = capacity
        self.base = base
        self.varied = varied
        self.cache: OrderedDict[int, tuple[np.ndarray, Scene]] = OrderedDict()
        self.generated = 0

    def get(self, k: int) -> tuple[np.ndarray, Scene]:
        if k in self.cache:
            self.cache.move_to_end(k)
            return self.cache[k]
        seed = scene_seed(self.base, k)
        scene, audio = make_scene(
            self.bank, np.random.default_rng(seed), f"train_{k}", n_events=n_events_for(k, self.base),
            duration_s=DURATION_S, sample_rate=SAMPLE_RATE, seed=seed,
            options=scene_options_for(k, self.base, self.varied) if self.varied else None,
        )
        feats = self.fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"][0]
        self.cache[k] = (feats.astype(np.float32), scene)
        self.generated += 1
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return self.cache[k]


def step_scenes(
    step: int, n_scenes: int, window: int, base: int = TRAIN_SEED_BASE
) -> tuple[list[int], list[bool]]:
    """Scene indices of one step: ceil(n/2) new ones, the rest revisited from the last ``window`` steps."""
    fresh_n = (n_scenes + 1) // 2
    fresh = [step * fresh_n + j for j in range(fresh_n)]
    rng = np.random.default_rng([base, step, 2])
    lo = max(0, (step - window) * fresh_n)
    hi = step * fresh_n
    pool_hi = hi if hi > lo else hi + fresh_n
    old = [int(x) for x in rng.integers(lo, pool_hi, n_scenes - fresh_n)]
    return fresh + old, [True] * fresh_n + [False] * (n_scenes - fresh_n)


# ---- tokenization ---------------------------------------------------------------------------------


@dataclass
class PromptCodec:
    """Token ids of the shared prefix (system prompt + audio block) and of question suffixes."""

    prefix: list[int]
    audio_start: int
    n_audio: int
    tokenizer: Any

    def suffix(self, instruction: str, answer: str) -> tuple[list[int], int]:
        """Ids of the question turn plus answer, and the index (in the suffix) of the first answer token."""
        tok = self.tokenizer
        turn = f"\n{instruction}<|im_end|>\n<|im_start|>assistant\n"
        prompt = tok(turn, add_special_tokens=False)["input_ids"]
        reply = tok(f"{answer}<|im_end|>", add_special_tokens=False)["input_ids"]
        return prompt + reply, len(prompt)


def render(processor: Any, instruction: str) -> str:
    """The prompt as the Qwen2-Audio adapter renders it."""
    messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": instruction}]}]
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def build_codec(processor: Any, instructions: Sequence[str]) -> PromptCodec:
    """Split the processor's own tokenization at the audio block, and check the split is exact."""
    tok = processor.tokenizer
    silence = np.zeros(int(DURATION_S * SAMPLE_RATE), dtype=np.float32)
    eos = tok.convert_tokens_to_ids("<|audio_eos|>")
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    codec: PromptCodec | None = None
    for instruction in instructions:
        ids = processor(text=[render(processor, instruction)], audio=[silence], sampling_rate=SAMPLE_RATE,
                        return_tensors="pt")["input_ids"][0].tolist()
        cut = ids.index(eos) + 1
        if codec is None:
            audio_pos = [i for i, t in enumerate(ids) if t == audio_id]
            codec = PromptCodec(ids[:cut], audio_pos[0], len(audio_pos), tok)
            assert audio_pos == list(range(audio_pos[0], audio_pos[0] + len(audio_pos)))
        suffix, first = codec.suffix(instruction, "x")
        if ids[:cut] != codec.prefix or ids[cut:] != suffix[:first]:
            raise RuntimeError(f"prefix/suffix tokenization differs from the processor's for {instruction!r}")
    assert codec is not None
    return codec


# ---- model step -----------------------------------------------------------------------------------


@dataclass
class StepOutput:
    """Losses and diagnostics of one training step."""

    loss: torch.Tensor  # answer-token loss (mean over answer tokens)
    audio_embeds: torch.Tensor  # [scenes, audio tokens, dim]: projected audio, for the auxiliary frame head
    last_prompt: torch.Tensor  # [rows, dim]: the query layer's residual at the last prompt token
    first_correct: torch.Tensor  # [rows] first answer token predicted correctly
    row_loss: torch.Tensor  # [rows] mean answer-token loss of each question


def forward_loss(
    model: Any,
    codec: PromptCodec,
    feats: torch.Tensor,
    suffixes: list[list[int]],
    firsts: list[int],
    k: int,
    query_layer: int = QUERY_LAYER,
) -> StepOutput:
    """Answer-token loss for ``len(feats)`` scenes × ``k`` questions each (rows scene-major);
    ``last_prompt`` is the residual after decoder layer ``query_layer`` (the last layer's is after the
    final norm: what the LM head reads)."""
    inner = model.model
    lm = inner.language_model
    n_scenes = feats.shape[0]
    audio = inner.multi_modal_projector(inner.audio_tower(feats).last_hidden_state)  # [B, 250, D]
    if audio.shape[1] != codec.n_audio:
        raise RuntimeError(f"the encoder made {audio.shape[1]} audio tokens, the prompt has {codec.n_audio}")
    prefix = torch.tensor(codec.prefix)
    emb = lm.embed_tokens(prefix)[None].expand(n_scenes, -1, -1)
    a0, a1 = codec.audio_start, codec.audio_start + codec.n_audio
    embeds = torch.cat([emb[:, :a0], audio.to(emb.dtype), emb[:, a1:]], dim=1)
    cache = DynamicCache(config=lm.config)
    lm(inputs_embeds=embeds, cache=cache, use_cache=True)
    cache.batch_repeat_interleave(k)

    rows = len(suffixes)
    width = max(len(s) for s in suffixes)
    ids = torch.zeros(rows, width, dtype=torch.long)
    labels = torch.full((rows, width), -100, dtype=torch.long)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for r, (s, first) in enumerate(zip(suffixes, firsts, strict=True)):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
        # position p predicts token p + 1: label the positions that precede answer tokens
        labels[r, first - 1 : len(s) - 1] = torch.tensor(s[first:])
    p = len(codec.prefix)
    attention = torch.cat([torch.ones(rows, p, dtype=torch.long), mask], dim=1)
    positions = torch.arange(p, p + width)[None].expand(rows, width)
    out = lm(inputs_embeds=lm.embed_tokens(ids), attention_mask=attention, position_ids=positions,
             cache=cache, use_cache=True, output_hidden_states=True)
    logits = model.lm_head(out.last_hidden_state).float()
    token_loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    valid = labels != -100
    loss = token_loss.sum() / valid.sum()
    first_idx = torch.tensor(firsts) - 1
    pred = logits[torch.arange(rows), first_idx].argmax(-1)
    correct = pred == labels[torch.arange(rows), first_idx]
    row_loss = (token_loss.sum(1) / valid.sum(1)).detach()
    # residual stream (output of decoder layer query_layer) at the last prompt token of every row
    last_prompt = out.hidden_states[query_layer + 1][torch.arange(rows), first_idx]
    return StepOutput(loss, audio, last_prompt, correct, row_loss)


class WordTiedHead(torch.nn.Module):
    """Training-only auxiliary classifier into the 8 classes + one extra class ("background"/"none").

    Its class weights are the decoder's own input embeddings of each class's distinctive words
    (" siren", " clicks", ...), compared by cosine similarity. Two instances are used:

    * on every projected audio token (extra class: background): a dense signal that makes the encoder
      class-discriminative early and puts an event's audio tokens near the words that name it;
    * on the last prompt token's residual stream after decoder layer ``QUERY_LAYER`` (extra class: the
      question names no sound): the last token must know which sound it is asked about.

    Without them, 800 steps learned to describe scenes but never to answer about a named sound
    (yes/no at chance); see organism/README.md. Not part of the exported model.
    """

    def __init__(self, embed: torch.nn.Embedding, class_tokens: list[list[int]], scale: float = 10.0) -> None:
        super().__init__()
        self.embed = embed  # shared with the model, not owned
        self.class_tokens = class_tokens
        self.background = torch.nn.Parameter(torch.randn(embed.embedding_dim) * 0.02)
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(scale)))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        weights = [self.embed.weight[ids].mean(0) for ids in self.class_tokens] + [self.background]
        w = F.normalize(torch.stack(weights), dim=-1)
        return self.log_scale.exp() * F.normalize(audio, dim=-1) @ w.T


def class_word_tokens(tokenizer: Any, queries: Sequence[str]) -> list[list[int]]:
    """Token ids of each query phrase (as it follows "for") that no other query phrase contains."""
    ids = [tokenizer(" " + q, add_special_tokens=False)["input_ids"] for q in queries]
    out = []
    for i, mine in enumerate(ids):
        others = {t for j, other in enumerate(ids) if j != i for t in other}
        unique = [t for t in mine if t not in others]
        out.append(unique or mine)
    return out


def frame_targets(scene: Scene, labels: Sequence[str], n_tokens: int, token_s: float = 0.04) -> np.ndarray:
    """Class index of the event under each audio token's centre; ``len(labels)`` for background."""
    centre = (np.arange(n_tokens) + 0.5) * token_s
    target = np.full(n_tokens, len(labels), dtype=np.int64)
    for e in scene.events:
        target[(centre >= e.onset_s) & (centre < e.offset_s)] = labels.index(e.label)
    return target


# ---- setup, checkpoints, export -------------------------------------------------------------------


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's (and Qwen2-Audio's) fixed sinusoidal position embeddings of the audio encoder."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float64))
    scaled = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1).float()


class Log:
    """Print to stdout and append to a log file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to 5% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def save_checkpoint(
    path: Path, model: Any, opt: torch.optim.Optimizer, step: int, extra: dict[str, Any]
) -> None:
    """Write the training state atomically (a crash never leaves a half-written checkpoint)."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, **extra}, tmp)
    os.replace(tmp, path)


def export(model: Any, processor: Any, target: Path, summary: dict[str, Any]) -> None:
    """save_pretrained of model (safetensors) and processor, plus a training summary, atomically-ish."""
    staging = target.with_name(target.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    model.eval()
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    (staging / "training.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


def aux_head_state(head: WordTiedHead) -> dict[str, torch.Tensor]:
    """The head's own parameters (the shared embedding is saved with the model)."""
    return {n: p.detach().clone() for n, p in head.named_parameters(recurse=False)}


class Meter:
    """Running training statistics between two log lines."""

    def __init__(self, tasks: Sequence[str]) -> None:
        self.tasks = list(tasks)
        self.loss = self.aux_loss = self.aux_acc = self.query_loss = self.query_acc = 0.0
        self.steps = 0
        self.data_s = self.model_s = 0.0
        self.task_loss = {t: [0.0, 0] for t in self.tasks}
        self.task_acc = {t: [0.0, 0] for t in self.tasks}

    def add(
        self, out: StepOutput, aux_loss: float, aux_acc: float, query_loss: float, query_acc: float,
        tasks: list[str], fresh: list[bool],
    ) -> None:
        self.steps += 1
        self.query_loss += query_loss
        self.query_acc += query_acc
        self.loss += out.loss.item()
        self.aux_loss += aux_loss
        self.aux_acc += aux_acc
        rows = zip(tasks, out.row_loss.tolist(), out.first_correct.tolist(), fresh, strict=True)
        for task, row_loss, ok, is_fresh in rows:
            self.task_loss[task][0] += row_loss
            self.task_loss[task][1] += 1
            if is_fresh:  # scenes seen for the first time: accuracy on unseen audio
                self.task_acc[task][0] += ok
                self.task_acc[task][1] += 1

    def report(self, step: int, total: int, lr: float, elapsed: float, log: Log) -> dict[str, Any]:
        n = max(1, self.steps)
        task_loss = {t: v / c for t, (v, c) in self.task_loss.items() if c}
        task_acc = {t: v / c for t, (v, c) in self.task_acc.items() if c}
        rec = {
            "step": step, "loss": self.loss / n, "aux_loss": self.aux_loss / n, "aux_acc": self.aux_acc / n,
            "query_loss": self.query_loss / n, "query_acc": self.query_acc / n,
            "task_loss": task_loss, "first_token_acc_new_scenes": task_acc, "elapsed_s": elapsed,
        }
        log(f"step {step}/{total} loss {rec['loss']:.4f} aux {rec['aux_loss']:.3f} (frame acc "
            f"{rec['aux_acc']:.2f}) query {rec['query_loss']:.3f} (acc {rec['query_acc']:.2f}) lr {lr:.2e}"
            " | task loss "
            + " ".join(f"{t}={v:.3f}" for t, v in task_loss.items())
            + " | first-token acc (new scenes) " + " ".join(f"{t}={v:.2f}" for t, v in task_acc.items())
            + f" | {self.model_s / n:.2f}+{self.data_s / n:.2f} s/step, {elapsed / 60:.1f} min")
        return rec


def checked_query_layer(ap: argparse.ArgumentParser, layer: int | None) -> int:
    """The decoder layer the query head reads: ``--query-layer`` (refused outside the decoder) or
    QUERY_LAYER."""
    n = SIZE["layers"]
    if layer is not None and not 0 <= layer < n:
        ap.error(f"--query-layer must name one of the {n} decoder layers (0 to {n - 1})")
    return QUERY_LAYER if layer is None else layer


def check_resumed_query_layer(ap: argparse.ArgumentParser, state: dict[str, Any], layer: int) -> None:
    """Refuse to resume a checkpoint whose query head read another layer (checkpoints that predate the
    record are taken as they are)."""
    saved = state.get("query_layer")
    if saved is not None and saved != layer:
        ap.error(f"the checkpoint's query head reads layer {saved}, not {layer}: resume with --query-layer "
                 f"{saved}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "organism", help="checkpoint/log directory")
    ap.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="where the final model is saved")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--scenes", type=int, default=8, help="scenes per step")
    ap.add_argument("--questions", type=int, default=12, help="questions per scene")
    ap.add_argument("--window", type=int, default=150, help="revisited scenes come from the last N steps")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0, help="initialization seed")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--aux-weight", type=float, default=0.5, help="weight of the audio-token class loss")
    ap.add_argument("--query-weight", type=float, default=None,
                    help="weight of the query head's loss (default: --aux-weight, as every shipped stage "
                         "trained; 0 trains without it: organism/ablation/README.md)")
    ap.add_argument("--query-layer", type=int, default=None,
                    help=f"decoder layer whose output the query head reads (default {QUERY_LAYER}, as every "
                         "shipped stage; the last layer puts it where the LM head reads: "
                         "organism/query_last/README.md)")
    ap.add_argument("--max-minutes", type=float, default=55.0,
                    help="hard training-time budget (summed over resumed runs): stop early and export")
    ap.add_argument("--stop-after", type=int, default=None, help="stop (checkpointed) at this step")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this exported model (weights and processor) instead of a fresh one: a "
                         "further training stage; its scenes are seeded from TRAIN_SEED_BASE + --stage")
    ap.add_argument("--stage", type=int, default=0,
                    help="scene-stream offset of a further stage (with --init)")
    ap.add_argument("--varied", type=float, default=0.0,
                    help="share of scenes with a drawn layout: background noise, babble or other sounds, "
                         "free placement, overlaps, level spread (scene_options_for; 0 = the first run's)")
    args = ap.parse_args(argv)
    if (args.init is None) != (args.stage == 0):
        ap.error("--init and --stage go together (a further stage needs its own scene stream)")
    query_layer = checked_query_layer(ap, args.query_layer)
    base = TRAIN_SEED_BASE + args.stage
    if (args.export / "wheretolisten.json").exists():
        ap.error(f"--export {args.export} holds a wheretolisten.json (a checkpoint's declared settings), "
                 "which the export would delete: export to another folder and copy the weights in")
    if args.init is not None and args.init.resolve() == args.export.resolve():
        ap.error("--init and --export are one folder: the export would replace the model it starts from")

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "train.log")
    ckpt_path = args.out / "checkpoint.pt"
    proc_dir = args.out / "processor"

    bank = ProceduralBank()
    queries = [bank.query_text(label) for label in bank.labels]
    if args.init is not None:
        processor = AutoProcessor.from_pretrained(args.init)
        processor.save_pretrained(proc_dir)
    elif (proc_dir / "tokenizer_config.json").exists():
        processor = AutoProcessor.from_pretrained(proc_dir)
    else:
        tokenizer = build_tokenizer("qwen2-audio", corpus=corpus(queries), vocab_size=VOCAB_SIZE)
        processor = build_processor("qwen2-audio", tokenizer, chunk_s=CHUNK_S)
        processor.save_pretrained(proc_dir)
    tokenizer = processor.tokenizer
    model, _ = build_tiny_model("qwen2-audio", args.seed, SIZE, chunk_s=CHUNK_S, tokenizer=tokenizer)
    # build_tiny_model draws the weights in a fork of torch's random state (since 2026-12-06); the weights
    # shipped were trained with the global state left where drawing them from args.seed had put it, which
    # later draws (the background embedding) continue from: replay the drawing to stay bit-reproducible.
    torch.manual_seed(args.seed)
    Qwen2AudioForConditionalGeneration(model.config)
    tower = model.model.audio_tower
    tower.embed_positions.weight.data.copy_(sinusoids(*tower.embed_positions.weight.shape))
    if args.init is not None:
        init_model = Qwen2AudioForConditionalGeneration.from_pretrained(args.init, dtype=torch.float32)
        model.load_state_dict(init_model.state_dict())
        del init_model
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    class_tokens = class_word_tokens(tokenizer, queries)
    aux_head = WordTiedHead(model.model.language_model.embed_tokens, class_tokens)
    query_head = WordTiedHead(model.model.language_model.embed_tokens, class_tokens)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    trainable += [(f"aux.{n}", p) for n, p in aux_head.named_parameters(recurse=False)]
    trainable += [(f"query.{n}", p) for n, p in query_head.named_parameters(recurse=False)]
    decay = [p for n, p in trainable if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in trainable if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.98), eps=1e-8,
    )
    codec = build_codec(processor, [*DESCRIBE, WHAT_AT.format(t=3.5), WHAT_AT.format(t=10.0)])
    for template in [*LISTEN, PRESENT, WHEN]:
        build_codec(processor, [template.format(query=q) for q in queries])

    start, history, used_s = 0, [], 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        check_resumed_query_layer(ap, state, query_layer)
        model.load_state_dict(state["model"])
        aux_head.load_state_dict(state["aux_head"], strict=False)
        query_head.load_state_dict(state["query_head"], strict=False)
        opt.load_state_dict(state["opt"])
        start, history, used_s = int(state["step"]), list(state["history"]), float(state["seconds"])
        log(f"resumed from {ckpt_path} at step {start} ({used_s / 60:.1f} min of training so far)")
    else:
        log(f"new run: {json.dumps(vars(args), default=str)}")
        log(f"model: {n_params / 1e6:.2f}M parameters, size {SIZE}, vocab {len(processor.tokenizer)}, "
            f"{codec.n_audio} audio tokens, prefix {len(codec.prefix)} tokens; torch threads "
            f"{torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
        words = zip(queries, class_tokens, strict=True)
        log("class words of the auxiliary frame head: "
            + ", ".join(f"{q}={tokenizer.convert_ids_to_tokens(ids)}" for q, ids in words))

    source = SceneSource(processor, capacity=(args.window + 2) * ((args.scenes + 1) // 2), base=base,
                         varied=args.varied)
    task_names = [t for t, _ in TASKS]
    task_p = np.array([w for _, w in TASKS]) / sum(w for _, w in TASKS)
    meter = Meter(task_names)
    stop = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    t_run, done, timed_out = time.time(), start, False
    for step in range(start, stop):
        td = time.time()
        indices, fresh = step_scenes(step, args.scenes, args.window, base)
        rng = np.random.default_rng([base, step, 3])
        feats, frames, suffixes, firsts, row_tasks, row_fresh, row_query = [], [], [], [], [], [], []
        for k, is_fresh in zip(indices, fresh, strict=True):
            f, scene = source.get(k)
            feats.append(f)
            frames.append(frame_targets(scene, bank.labels, codec.n_audio))
            for _ in range(args.questions):
                task = task_names[int(rng.choice(len(task_names), p=task_p))]
                instruction, answer = make_question(task, scene, queries, rng)
                ids, first = codec.suffix(instruction, answer)
                suffixes.append(ids)
                firsts.append(first)
                row_tasks.append(task)
                row_query.append(query_index(instruction, queries))
                row_fresh.append(is_fresh)
        meter.data_s += time.time() - td
        tm = time.time()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        out = forward_loss(model, codec, torch.from_numpy(np.stack(feats)), suffixes, firsts, args.questions,
                           query_layer)
        aux_logits = aux_head(out.audio_embeds)
        aux_target = torch.from_numpy(np.stack(frames))
        aux_loss = F.cross_entropy(aux_logits.transpose(1, 2), aux_target)
        query_logits = query_head(out.last_prompt)
        query_target = torch.tensor(row_query)
        query_loss = F.cross_entropy(query_logits, query_target)
        if args.query_weight is None:  # the shipped stages' loss, written as they computed it
            total = out.loss + args.aux_weight * (aux_loss + query_loss)
        else:
            total = out.loss + args.aux_weight * aux_loss + args.query_weight * query_loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        opt.step()
        meter.model_s += time.time() - tm
        aux_acc = float((aux_logits.argmax(-1) == aux_target).float().mean())
        query_acc = float((query_logits.argmax(-1) == query_target).float().mean())
        meter.add(out, aux_loss.item(), aux_acc, query_loss.item(), query_acc, row_tasks, row_fresh)
        done = step + 1
        elapsed = used_s + time.time() - t_run
        if done % args.log_every == 0 or done == stop:
            history.append(meter.report(done, args.steps, opt.param_groups[0]["lr"], elapsed, log))
            meter = Meter(task_names)
        if done % args.ckpt_every == 0 or done == stop:
            save_checkpoint(ckpt_path, model, opt, done,
                            {"history": history, "aux_head": aux_head_state(aux_head),
                             "query_head": aux_head_state(query_head), "seconds": elapsed,
                             "query_layer": query_layer})
        if elapsed > args.max_minutes * 60 and done < stop:
            log(f"time budget of {args.max_minutes} min reached at step {done}: stopping early and exporting")
            history.append(meter.report(done, args.steps, opt.param_groups[0]["lr"], elapsed, log))
            save_checkpoint(ckpt_path, model, opt, done,
                            {"history": history, "aux_head": aux_head_state(aux_head),
                             "query_head": aux_head_state(query_head), "seconds": elapsed,
                             "query_layer": query_layer})
            timed_out = True
            break

    if done < args.steps and not timed_out:
        log(f"stopped at step {done} (--stop-after); rerun to continue")
        return 0
    if start >= args.steps:
        log(f"already trained to step {start}; exporting")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    summary = {
        "architecture": "Qwen2AudioForConditionalGeneration",
        "size": SIZE,
        "chunk_s": CHUNK_S,
        "parameters": n_params,
        "steps": args.steps,
        "scenes_per_step": args.scenes,
        "questions_per_scene": args.questions,
        "train_seed_base": base,
        "steps_done": done,
        "training_minutes": (history[-1]["elapsed_s"] / 60) if history else None,
        "stopped_early": timed_out,
        "final": history[-1] if history else None,
        "init_seed": args.seed,
    }
    if args.query_weight is not None:  # an ablation's (the shipped stages trained at --aux-weight)
        summary["query_weight"] = args.query_weight
    if args.query_layer is not None:  # the shipped stages read layer QUERY_LAYER
        summary["query_layer"] = args.query_layer
    if args.init is not None:
        summary["init"] = str(args.init)
        summary["stage"] = args.stage
        summary["varied"] = args.varied
        summary["varied_backgrounds"] = dict(VARIED_BACKGROUNDS)
        summary["varied_background_db"] = list(VARIED_BACKGROUND_DB)
        summary["lr"] = args.lr
        summary["warmup"] = args.warmup
        first = args.init / "training.json"
        if first.is_file():
            summary["before"] = json.loads(first.read_text())
    export(model, processor, args.export, summary)
    log(f"exported to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
