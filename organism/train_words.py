"""A further training stage of the organism that teaches it spoken words (the 20 words of the speech bank).

Usage (from the repository root)::

    python organism/train_words.py --out out/organism-words --export out/organism-words/export
    python organism/train_words.py --out out/organism-words --export out/organism-words/export  # resumes

It starts from an exported organism (``--init``, default the second stage, ``organism/stage2/model``) and
continues it with the same model step, questions and losses as ``organism/train.py`` (imported from it,
unchanged), on a scene stream of its own (seeded from ``TRAIN_SEED_BASE + --stage``) in which a scene is, by
a draw per scene, procedural only (25 %), spoken words only (45 %) or both (30 %), laid out as the second
stage's varied scenes (``scene_options_for``, share ``--varied``). The words are synthesized by espeak-ng
and flite (``SpeechBank(engines=ENGINES)``, 30 % band-limited like a phone line): all of it synthesized,
though flite's ``awb``, ``rms`` and ``slt`` voices were built from recordings of three CMU ARCTIC speakers.
No recording is trained on, and the held-out real speech (asterisk's prompts) is another speaker's. Queries
name a word as "someone saying 'seven'". The tokenizer gains one token per word (each word then has its own
embedding, as each procedural class word has): its input row starts random, its output row as the mean of
the rows of the pieces that spelled it; the model keeps its exact architecture with a larger vocabulary.

As in the earlier stages, two training-only auxiliary classifiers (``train.WordTiedHead``) label every
audio token and ask the last prompt token after decoder layer ``train.QUERY_LAYER`` which sound or word
the instruction names, now over 28 classes: the second is a loss on the residual stream where steering
acts (organism/README.md, "What was built in"). The export holds the model, its processor and a
``wheretolisten.json`` whose vocabulary lists the words.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: idle OpenMP workers sleep

import argparse
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import AddedToken
from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train as base_train

from wheretolisten.errors import DataError
from wheretolisten.organism import TRAIN_SEED_BASE
from wheretolisten.scenes import ProceduralBank, Scene, make_scene, scene_seed
from wheretolisten.scenes.banks import Bank, MixedBank
from wheretolisten.scenes.speech import ENGINES, SPEECH_WORDS, SpeechBank

REPO = Path(__file__).resolve().parents[1]
#: Kind of each training scene and its probability.
MODES = (("procedural", 0.25), ("speech", 0.45), ("mixed", 0.3))
TELEPHONE_P = 0.3
#: The encoder drill's scene stream (``scene_seed(base + DRILL_OFFSET, k)``): 3 events of the mixed bank.
DRILL_OFFSET = 500
DRILL_CLIPS = 16


def banks() -> dict[str, Bank]:
    """The bank of each scene kind (the speech bank: the 20 words, both engines)."""
    procedural = ProceduralBank()
    speech = SpeechBank(words=SPEECH_WORDS, phrases=(), telephone_p=TELEPHONE_P, engines=ENGINES)
    return {"procedural": procedural, "speech": speech, "mixed": MixedBank([procedural, speech])}


def mode_for(k: int, base: int) -> str:
    """Kind of training scene k (its own draw, so the other draws of scene k are those of train.py)."""
    names, probs = zip(*MODES, strict=True)
    return str(np.random.default_rng([base, k, 5]).choice(names, p=probs))


class WordSceneSource:
    """Training scene k (features and ground truth), deterministic and cached, of kind ``mode_for(k)``."""

    def __init__(self, processor: Any, capacity: int, base: int, varied: float) -> None:
        self.banks = banks()
        self.fe = processor.feature_extractor
        self.capacity, self.base, self.varied = capacity, base, varied
        self.cache: OrderedDict[int, tuple[np.ndarray, Scene]] = OrderedDict()

    def get(self, k: int) -> tuple[np.ndarray, Scene]:
        if k in self.cache:
            self.cache.move_to_end(k)
            return self.cache[k]
        seed = scene_seed(self.base, k)
        scene, audio = make_scene(
            self.banks[mode_for(k, self.base)],
            np.random.default_rng(seed),
            f"train_{k}",
            n_events=base_train.n_events_for(k, self.base),
            duration_s=base_train.DURATION_S,
            sample_rate=base_train.SAMPLE_RATE,
            seed=seed,
            options=base_train.scene_options_for(k, self.base, self.varied) if self.varied else None,
        )
        feats = self.fe(audio, sampling_rate=base_train.SAMPLE_RATE, return_tensors="np")["input_features"][0]
        self.cache[k] = (feats.astype(np.float32), scene)
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return self.cache[k]


def drill_scene(banks_: dict[str, Bank], base: int, k: int, fe: Any) -> tuple[np.ndarray, Scene]:
    """Drill scene k: three distinct sounds or words of the mixed bank, one per slot, in quiet or (one in
    three) over a drawn background; features and ground truth."""
    seed = scene_seed(base + DRILL_OFFSET, k)
    options = base_train.scene_options_for(k, base + DRILL_OFFSET, 1 / 3)
    scene, audio = make_scene(
        banks_["mixed"],
        np.random.default_rng(seed),
        f"drill_{k}",
        n_events=3,
        duration_s=base_train.DURATION_S,
        sample_rate=base_train.SAMPLE_RATE,
        seed=seed,
        options=options,
    )
    feats = fe(audio, sampling_rate=base_train.SAMPLE_RATE, return_tensors="np")["input_features"][0]
    return feats.astype(np.float32), scene


def drill_encoder(model: Any, processor: Any, base: int, steps: int, lr: float, log: Any) -> None:
    """Phase 1: the audio encoder alone learns to label every audio token with its sound or word (or
    background), through a linear head that is then dropped, on ``DRILL_CLIPS`` new drill scenes a step.

    Without it, the stage's tied frame head learned the words slowly (organism/words/README.md, run 1)."""
    from concurrent.futures import ThreadPoolExecutor

    banks_ = banks()
    labels = list(banks_["mixed"].labels)
    tower = model.model.audio_tower
    head = torch.nn.Linear(tower.config.d_model, len(labels) + 1)
    torch.manual_seed(base)
    head.reset_parameters()
    opt = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=lr, weight_decay=0.01)
    t0 = time.time()
    with ThreadPoolExecutor(4) as pool:  # the synthesizers run as subprocesses: threads overlap them
        for step in range(steps):
            ks = [step * DRILL_CLIPS + j for j in range(DRILL_CLIPS)]
            made = list(pool.map(lambda k: drill_scene(banks_, base, k, processor.feature_extractor), ks))
            feats = torch.from_numpy(np.stack([f for f, _ in made]))
            target = torch.from_numpy(np.stack([base_train.frame_targets(sc, labels, 250) for _, sc in made]))
            for group in opt.param_groups:
                group["lr"] = base_train.lr_at(step, steps, lr, 20)
            logits = head(tower(feats).last_hidden_state)
            loss = F.cross_entropy(logits.transpose(1, 2), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % 50 == 0 or step + 1 == steps:
                events = target < len(labels)
                acc = float((logits.argmax(-1)[events] == target[events]).float().mean())
                log(
                    f"drill {step + 1}/{steps} loss {loss.item():.3f} event-frame acc {acc:.2f} "
                    f"({(time.time() - t0) / 60:.1f} min)"
                )


def add_word_tokens(processor: Any, model: Any) -> list[str]:
    """Give every speech word its own token (whole words only) and embedding rows; returns the words added.

    A new input row starts random (normal, the table's own spread: words that share pieces, such as the
    days, must not start alike, since the tied frame head compares audio with these rows by cosine); a
    new output row starts as the mean of the rows of the pieces that spelled the word."""
    tok = processor.tokenizer
    spelled = {w: tok(w, add_special_tokens=False)["input_ids"] for w in SPEECH_WORDS}
    new = [w for w in SPEECH_WORDS if w not in tok.get_vocab()]
    tok.add_tokens([AddedToken(w, single_word=True, normalized=False) for w in new])
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    generator = torch.Generator().manual_seed(len(tok))
    with torch.no_grad():
        spread = float(emb[: len(tok) - len(new)].std())
        for w in new:
            row = tok.convert_tokens_to_ids(w)
            emb[row] = torch.randn(emb.shape[1], generator=generator) * spread
            head[row] = head[spelled[w]].mean(0)
    return new


def declared(init: Path, words: list[str]) -> dict[str, Any]:
    """The init's ``wheretolisten.json`` with the words (texts, as ``vocabulary.speech`` takes them: the
    queries are "someone saying '<word>'") added to its vocabulary; its settings are kept
    (not chosen again for this model, as the note says) and its measured generate note is dropped."""
    path = init / "wheretolisten.json"
    meta: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    vocab = dict(meta.get("vocabulary", {}))
    vocab["speech"] = list(words)
    meta["vocabulary"] = vocab
    meta.pop("generate_note", None)
    note = (
        "words stage: organism/train_words.py continued the model below on scenes with spoken words "
        "(espeak-ng and flite); vocabulary: its 8 sounds and the 20 words this stage trained on; every other "
        "setting is the continued model's, not chosen again for this one, whose note follows: "
    )
    meta["note"] = note + meta.get("note", "")
    return meta


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (the summary then reads the same on any
    clone), else as given."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--init", type=Path, default=REPO / "organism" / "stage2" / "model", help="exported model to continue"
    )
    ap.add_argument("--out", type=Path, default=REPO / "out" / "organism-words", help="checkpoint/log folder")
    ap.add_argument("--export", type=Path, default=REPO / "out" / "organism-words" / "export")
    ap.add_argument("--stage", type=int, default=2, help="scene-stream offset (stage 2 of train.py used 1)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--window", type=int, default=150)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--varied", type=float, default=0.6)
    ap.add_argument("--aux-weight", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--max-minutes", type=float, default=40.0)
    ap.add_argument("--drill-steps", type=int, default=400, help="encoder drill steps before the stage")
    ap.add_argument("--drill-lr", type=float, default=5e-4)
    ap.add_argument(
        "--query-layer",
        type=int,
        default=None,
        help=f"decoder layer whose output the query head reads (default "
        f"{base_train.QUERY_LAYER}, as the shipped stages; organism/query_last/README.md)",
    )
    args = ap.parse_args(argv)
    query_layer = base_train.checked_query_layer(ap, args.query_layer)
    if (args.export / "wheretolisten.json").exists() or args.export.resolve() == args.init.resolve():
        ap.error(f"--export {args.export} holds a model's declared settings or is --init: export elsewhere")
    out, export = args.out.resolve(), args.export.resolve()
    if out == export or export in out.parents:
        ap.error(f"--export {args.export} would replace --out {args.out} (its checkpoint and log)")
    try:
        sources = banks()  # a missing synthesizer is one line here, before any model is loaded
    except DataError as exc:
        ap.error(str(exc))
    base = TRAIN_SEED_BASE + args.stage
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    log = base_train.Log(args.out / "train.log")
    ckpt_path = args.out / "checkpoint.pt"

    processor = AutoProcessor.from_pretrained(args.init)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(args.init, dtype=torch.float32)
    added = add_word_tokens(processor, model)
    tokenizer = processor.tokenizer
    labels = list(sources["mixed"].labels)
    queries = [sources["mixed"].query_text(label) for label in labels]
    model.train()
    class_tokens = base_train.class_word_tokens(tokenizer, queries)
    embed = model.model.language_model.embed_tokens
    aux_head = base_train.WordTiedHead(embed, class_tokens)
    query_head = base_train.WordTiedHead(embed, class_tokens)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    trainable += [(f"aux.{n}", p) for n, p in aux_head.named_parameters(recurse=False)]
    trainable += [(f"query.{n}", p) for n, p in query_head.named_parameters(recurse=False)]
    decay = [p for n, p in trainable if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in trainable if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-8,
    )
    codec = base_train.build_codec(
        processor, [*base_train.DESCRIBE, base_train.WHAT_AT.format(t=3.5), base_train.WHAT_AT.format(t=10.0)]
    )
    for template in [*base_train.LISTEN, base_train.PRESENT, base_train.WHEN]:
        base_train.build_codec(processor, [template.format(query=q) for q in queries])

    start, history, used_s = 0, [], 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        base_train.check_resumed_query_layer(ap, state, query_layer)
        model.load_state_dict(state["model"])
        aux_head.load_state_dict(state["aux_head"], strict=False)
        query_head.load_state_dict(state["query_head"], strict=False)
        opt.load_state_dict(state["opt"])
        start, history, used_s = int(state["step"]), list(state["history"]), float(state["seconds"])
        log(f"resumed from {ckpt_path} at step {start} ({used_s / 60:.1f} min of training so far)")
    else:
        log(f"new run: {json.dumps(vars(args), default=str)}")
        drill_path = args.out / "drill.pt"
        if drill_path.exists():
            model.model.audio_tower.load_state_dict(torch.load(drill_path, weights_only=True))
            log(f"encoder drill loaded from {drill_path}")
        elif args.drill_steps:
            drill_encoder(model, processor, base, args.drill_steps, args.drill_lr, log)
            tmp = drill_path.with_suffix(".tmp")
            torch.save(model.model.audio_tower.state_dict(), tmp)
            os.replace(tmp, drill_path)
        log(
            f"added word tokens: {added}; vocab {len(tokenizer)}; scene kinds {dict(MODES)}; speech bank "
            f"{sources['speech'].name}; torch threads {torch.get_num_threads()}"
        )
        log(
            "class words: "
            + ", ".join(
                f"{q}={tokenizer.convert_ids_to_tokens(ids)}"
                for q, ids in zip(queries, class_tokens, strict=True)
            )
        )

    source = WordSceneSource(processor, (args.window + 2) * ((args.scenes + 1) // 2), base, args.varied)
    task_names = [t for t, _ in base_train.TASKS]
    task_p = np.array([w for _, w in base_train.TASKS]) / sum(w for _, w in base_train.TASKS)
    meter = base_train.Meter(task_names)
    t_run, done, timed_out = time.time(), start, False
    for step in range(start, args.steps):
        td = time.time()
        indices, fresh = base_train.step_scenes(step, args.scenes, args.window, base)
        rng = np.random.default_rng([base, step, 3])
        feats, frames, suffixes, firsts, row_tasks, row_fresh, row_query = [], [], [], [], [], [], []
        for k, is_fresh in zip(indices, fresh, strict=True):
            f, scene = source.get(k)
            feats.append(f)
            frames.append(base_train.frame_targets(scene, labels, codec.n_audio))
            for _ in range(args.questions):
                task = task_names[int(rng.choice(len(task_names), p=task_p))]
                instruction, answer = base_train.make_question(task, scene, queries, rng)
                ids, first = codec.suffix(instruction, answer)
                suffixes.append(ids)
                firsts.append(first)
                row_tasks.append(task)
                row_query.append(base_train.query_index(instruction, queries))
                row_fresh.append(is_fresh)
        meter.data_s += time.time() - td
        tm = time.time()
        for group in opt.param_groups:
            group["lr"] = base_train.lr_at(step, args.steps, args.lr, args.warmup)
        out = base_train.forward_loss(
            model,
            codec,
            torch.from_numpy(np.stack(feats)),
            suffixes,
            firsts,
            args.questions,
            query_layer,
        )
        aux_logits = aux_head(out.audio_embeds)
        aux_target = torch.from_numpy(np.stack(frames))
        aux_loss = F.cross_entropy(aux_logits.transpose(1, 2), aux_target)
        query_logits = query_head(out.last_prompt)
        query_target = torch.tensor(row_query)
        query_loss = F.cross_entropy(query_logits, query_target)
        total = out.loss + args.aux_weight * (aux_loss + query_loss)
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
        stop_now = elapsed > args.max_minutes * 60 and done < args.steps
        if done % args.log_every == 0 or done == args.steps or stop_now:
            history.append(meter.report(done, args.steps, opt.param_groups[0]["lr"], elapsed, log))
            meter = base_train.Meter(task_names)
        if done % args.ckpt_every == 0 or done == args.steps or stop_now:
            base_train.save_checkpoint(
                ckpt_path,
                model,
                opt,
                done,
                {
                    "history": history,
                    "aux_head": base_train.aux_head_state(aux_head),
                    "query_head": base_train.aux_head_state(query_head),
                    "seconds": elapsed,
                    "query_layer": query_layer,
                },
            )
        if stop_now:
            log(f"time budget of {args.max_minutes} min reached at step {done}: stopping early and exporting")
            timed_out = True
            break

    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    summary = {
        "architecture": "Qwen2AudioForConditionalGeneration",
        "init": _shown(args.init),
        "stage": args.stage,
        "train_seed_base": base,
        "steps": args.steps,
        "steps_done": done,
        "stopped_early": timed_out,
        "training_minutes": (history[-1]["elapsed_s"] / 60) if history else None,
        "scene_kinds": dict(MODES),
        "speech_bank": sources["speech"].name,
        "added_tokens": added,
        "varied": args.varied,
        "lr": args.lr,
        "warmup": args.warmup,
        "final": history[-1] if history else None,
    }
    if args.query_layer is not None:  # the shipped stages read layer QUERY_LAYER
        summary["query_layer"] = args.query_layer
    first = args.init / "training.json"
    if first.is_file():
        summary["before"] = json.loads(first.read_text())
    base_train.export(model, processor, args.export, summary)
    meta = declared(args.init, list(SPEECH_WORDS))
    tmp = args.export / "wheretolisten.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, args.export / "wheretolisten.json")
    log(f"exported to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
