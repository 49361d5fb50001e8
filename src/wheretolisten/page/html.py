"""The page itself: one self-contained HTML file (inline style, script, spectrogram and audio).

No network and no external file, except the audio when it is linked (``link``) instead of embedded.
Tables are plain HTML, readable without the script; the script (``assets/page/page.js``) draws the plots.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.2em auto;max-width:1400px;
color:#222;padding:0 1em}h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.05em;margin-top:1.4em}
.note{color:#555;font-size:.88em}.wtl-bar{display:flex;gap:.6em;align-items:center;flex-wrap:wrap;
position:sticky;top:0;background:#fff;padding:.4em 0;z-index:2}.wtl-bar audio{width:420px;max-width:100%}
#wtl-time{font-variant-numeric:tabular-nums;min-width:6em}#wtl-status{color:#a33}
#wtl-plots{position:relative;user-select:none}.wtl-row{display:grid;grid-template-columns:170px 1fr;
align-items:center}.wtl-row canvas{width:100%;display:block;cursor:crosshair;touch-action:none}
.wtl-label{font-size:.78em;color:#333;padding-right:.5em;text-align:right;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}.wtl-att,.wtl-spec{margin-top:6px}
#wtl-playhead{position:absolute;top:0;bottom:0;width:0;border-left:2px solid #d62728;pointer-events:none;
display:none}table{border-collapse:collapse;font-size:.85em;margin:.4em 0}th,td{border:1px solid #ddd;
padding:.2em .6em}th{background:#f4f4f4;text-align:left}td.num{text-align:right;
font-variant-numeric:tabular-nums}tbody tr.click{cursor:pointer}tbody tr.click:hover{background:#fff4e5}
tr.current{background:#ffe2bf}.legend span{display:inline-block;width:1.4em;height:.5em;margin:0 .3em 0 .8em}
kbd{border:1px solid #bbb;border-radius:3px;padding:0 .3em;font-size:.85em}
"""

LEGEND = (
    ("#4c72b0", "base (unsteered) attention"),
    ("#dd8452", "steered attention"),
    ("#55a868", "Δ = steered − base"),
    ("#c44e52", "readout peak (dashed) and interval (box)"),
    ("#f0a35e", "detections"),
    ("#2ca02c", "ground truth: the queried sound"),
    ("#8c8c8c", "ground truth: other sounds"),
)


def esc(value: Any) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no ``</`` can close it early)."""
    return (
        json.dumps(value, separators=(",", ":"), allow_nan=False)
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
    )


def asset_script(name: str) -> str:
    """A script shipped with the package (``assets/page/NAME``), to inline in a page."""
    return (resources.files("wheretolisten") / "assets" / "page" / name).read_text(encoding="utf-8")


def page_script() -> str:
    """The page's script."""
    return asset_script("page.js")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _seconds(value: float) -> str:
    return f"{value:.2f}"


def detections_table(queries: Sequence[Mapping[str, Any]]) -> str:
    """Every detection of every query in time order; a click on a row plays from its onset."""
    found = sorted(
        ((d["onset_s"], q_index, d) for q_index, q in enumerate(queries) for d in q["detections"]),
        key=lambda x: (x[0], x[1]),
    )
    if not found:
        return '<p class="note" id="wtl-no-detections">No detection (no score peak reaches the minimum).</p>'
    rows = "".join(
        f'<tr class="click" data-t="{d["onset_s"]}" data-q="{k}"><td>{esc(queries[k]["query"])}</td>'
        f'<td class="num">{_seconds(d["onset_s"])}</td><td class="num">{_seconds(d["offset_s"])}</td>'
        f'<td class="num">{d["score"]:.3g}</td></tr>'
        for _, k, d in found
    )
    head = "<tr><th>query</th><th>onset (s)</th><th>offset (s)</th><th>score</th></tr>"
    return f'<table id="wtl-detections"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def readout_table(queries: Sequence[Mapping[str, Any]]) -> str:
    """The readout of each query: peak and interval of Δ."""
    cells = []
    for q in queries:
        peak = "none" if q["peak_s"] is None else _seconds(q["peak_s"])
        interval = "none" if q["interval_s"] is None else "–".join(_seconds(v) for v in q["interval_s"])
        t = q["peak_s"] if q["peak_s"] is not None else q["t0"]
        cells.append(
            f'<tr class="click" data-t="{t}"><td>{esc(q["query"])}</td><td class="num">{peak}</td>'
            f'<td class="num">{interval}</td><td class="num">{len(q["detections"])}</td></tr>'
        )
    head = "<tr><th>query</th><th>peak (s)</th><th>interval (s)</th><th>detections</th></tr>"
    return f'<table id="wtl-readout"><thead>{head}</thead><tbody>{"".join(cells)}</tbody></table>'


def gt_table(gt: Sequence[Mapping[str, Any]]) -> str:
    if not gt:
        return ""
    rows = "".join(
        f'<tr class="click" data-t="{e["onset_s"]}"><td>{esc(e["label"])}</td>'
        f'<td class="num">{_seconds(e["onset_s"])}</td><td class="num">{_seconds(e["offset_s"])}</td></tr>'
        for e in sorted(gt, key=lambda e: e["onset_s"])
    )
    head = "<tr><th>event</th><th>onset (s)</th><th>offset (s)</th></tr>"
    return f'<h2>Ground truth</h2><table id="wtl-gt"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def settings_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table id="wtl-settings"><tbody>{body}</tbody></table>'


def render(
    title: str, data: Mapping[str, Any], spectrogram_png: bytes, ogg: bytes | None, link: str | None
) -> str:
    """The whole document: ``data`` from ``page_data`` (plus the audio's offset), the spectrogram, and
    the audio embedded (``ogg``) or linked (``link``, a URL relative to the page)."""
    queries = data["queries"]
    legend = "".join(f'<span style="background:{c}"></span>{esc(t)}' for c, t in LEGEND)
    src = f' src="{esc(link)}"' if link is not None else ""
    audio = data["audio"]
    sub = (
        f"{esc(audio.get('path') or 'audio')} · {audio['duration_s']:.2f} s · "
        f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} · model {esc(data['settings'][0][1])}"
    )
    keys = (
        "<kbd>space</kbd> play/pause · <kbd>n</kbd>/<kbd>p</kbd> next/previous detection · "
        "<kbd>+</kbd>/<kbd>-</kbd> or the wheel: zoom · drag: pan · double-click: whole recording · "
        "click a plot, span or row: play from there"
    )
    body = (
        f'<div id="wtl"><h1>{esc(title)}</h1><p class="note">{sub}</p>'
        f'<div class="wtl-bar"><audio id="wtl-audio" controls preload="auto"{src}></audio>'
        '<span id="wtl-time">0.00 s</span><button id="wtl-zoom-in" title="zoom in">+</button>'
        '<button id="wtl-zoom-out" title="zoom out">−</button>'
        '<button id="wtl-zoom-all" title="the whole recording">whole</button>'
        f'<span id="wtl-status"></span></div><p class="note">{keys}</p>'
        f'<p class="note legend">{legend}</p>'
        '<div id="wtl-plots"><div id="wtl-playhead"></div></div>'
        f"<h2>Readout</h2>{readout_table(queries)}<h2>Detections</h2>{detections_table(queries)}"
        f"{gt_table(data['gt'])}<h2>Settings</h2>{settings_table(data['settings'])}</div>"
        f'<img id="wtl-spec" hidden alt="" src="data:image/png;base64,{_b64(spectrogram_png)}">'
        f'<script type="application/json" id="wtl-data">{script_json(data)}</script>'
    )
    if ogg is not None:
        body += (
            f'<script type="application/octet-stream" id="wtl-ogg">{base64.b64encode(ogg).decode()}</script>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{page_script()}</script>\n</body>\n</html>\n"
    )
