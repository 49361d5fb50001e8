"""The gallery: the best, the worst and a seeded random sample of one condition's rows, each drawn with a
caption saying what was asked, what was predicted and how it scored."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..progress import track
from .html import esc, img, note, section
from .inputs import ReportInputs, Row


def row_score(row: Mapping[str, Any]) -> tuple[float, float]:
    """(hit, IoU) of a row: the gallery's ranking key, so every hit ranks above every miss."""
    from ..metrics import hit, iou

    return float(hit(row.get("peak_s"), row["gt"])), iou(row.get("interval_s"), row["gt"])


def select_gallery(rows: Sequence[Row], per_group: int = 4, seed: int = 0) -> list[tuple[str, list[Row]]]:
    """Best and worst ``per_group`` rows by (hit, IoU), and a seeded random sample of the rest."""
    keyed = sorted(
        range(len(rows)),
        key=lambda i: (*row_score(rows[i]), str(rows[i]["scene_id"]), str(rows[i]["query"])),
    )
    best = keyed[::-1][:per_group]
    worst = [i for i in keyed if i not in best][:per_group]
    rest = sorted(set(range(len(rows))) - set(best) - set(worst))
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(rest, size=min(per_group, len(rest)), replace=False).tolist()) if rest else []
    groups = [("best", best), ("worst", worst), ("random sample", sample)]
    return [(name, [rows[i] for i in idx]) for name, idx in groups if idx]


def caption(group: str, rank: int, row: Mapping[str, Any]) -> str:
    """'best #1: scene, “query” (position); GT …; prediction; hit, IoU …' as HTML."""
    hit_value, iou_value = row_score(row)
    interval = row.get("interval_s")
    pred = "none" if row.get("peak_s") is None else f"peak {float(row['peak_s']):.2f} s"
    if interval is not None:
        pred += f", interval {float(interval[0]):.2f}–{float(interval[1]):.2f} s"
    gt = f"{float(row['gt'][0]):.2f}–{float(row['gt'][1]):.2f} s"
    return (
        f"{esc(group)} #{rank}: {esc(row['scene_id'])}, “{esc(row['query'])}” "
        f"({esc(row.get('position', '?'))}); GT {gt}; {esc(pred)}; "
        f"{'hit' if hit_value else 'miss'}, IoU {iou_value:.2f}"
    )


def scene_audio(inputs: ReportInputs, row: Row) -> Path | None:
    """The row's scene audio, when a manifest was given and the file is there."""
    scene = inputs.scenes.get(str(row["scene_id"]))
    if scene is None or inputs.scenes_dir is None:
        return None
    path = scene.audio_path(inputs.scenes_dir)
    return path if path.is_file() else None


def playable_figure(png: bytes, axis: tuple[float, float], row: Row, ogg: bytes, text: str) -> str:
    """A figure with its scene's audio: a click on it plays from the time under the pointer."""
    x0, x1 = axis
    sound = base64.b64encode(ogg).decode("ascii")
    alt = f"{row['scene_id']} {row['query']}"
    return (
        f'<figure class="play" data-x0="{x0:.5f}" data-x1="{x1:.5f}" data-t1="{float(row["duration_s"])}">'
        f'{img(png, alt)}<div class="playhead"></div>'
        f'<audio controls preload="none" src="data:audio/ogg;base64,{sound}"></audio>'
        f"<figcaption>{text}</figcaption></figure>"
    )


def gallery_section(inputs: ReportInputs, condition: str, per_group: int, seed: int, progress: bool) -> str:
    """The gallery of ``condition``: one figure per selected row, group by group; '' when empty.

    With the scene manifest, each figure carries its scene's audio: click the figure to hear it there.
    """
    from ..figures import row_figure_axis
    from ..page.html import asset_script
    from ..page.sound import page_sound

    rows = [r for r in inputs.rows if r["condition"] == condition]
    groups = select_gallery(rows, per_group, seed) if per_group > 0 else []
    if not groups:
        return ""
    jobs = [(name, k + 1, row) for name, members in groups for k, row in enumerate(members)]
    figures: dict[str, list[str]] = {name: [] for name, _ in groups}
    playable = 0
    for name, rank, row in track(jobs, f"report: {len(jobs)} figures", progress):
        png, axis = row_figure_axis(row, inputs.scenes.get(str(row["scene_id"])))
        text, wav = caption(name, rank, row), scene_audio(inputs, row)
        sound = page_sound(wav).ogg if wav is not None else None
        if sound is not None:
            playable += 1
            figures[name].append(playable_figure(png, axis, row, sound, text))
        else:
            alt = f"{row['scene_id']} {row['query']}"
            figures[name].append(f"<figure>{img(png, alt)}<figcaption>{text}</figcaption></figure>")
    listen = (
        " Click a figure to hear its scene from there (a red line follows the sound)."
        if playable
        else " Give the scene manifest (--scenes) to hear each scene."
    )
    body = note(
        f"Condition <b>{esc(condition)}</b>, ranked by hit, then IoU. Green: the queried event (grey: "
        "the scene's other events when a manifest is given); orange: the predicted interval; red dashed: "
        "the predicted peak; the Δ profile is drawn when the row carries one." + listen
    )
    for name, _ in groups:
        body += f'<h3>{esc(name)}</h3><div class="gallery">{"".join(figures[name])}</div>'
    if playable:
        body += f"<script>{asset_script('gallery.js')}</script>"
    return section("gallery", "Gallery", body)


__all__ = ["caption", "gallery_section", "row_score", "select_gallery"]
