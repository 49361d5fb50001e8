// wheretolisten page: curves, spectrogram, detections and the audio on one time axis.
// Reads the JSON in #wtl-data; draws every plot at screen resolution for the time span in view.
(function () {
  "use strict";
  const COLORS = {
    base: "#4c72b0", steered: "#dd8452", delta: "#55a868", peak: "#c44e52",
    det: "#f0a35e", gt: "#2ca02c", other: "#8c8c8c", grid: "#e4e4e4", text: "#444",
  };
  const root = document.getElementById("wtl");
  const data = JSON.parse(document.getElementById("wtl-data").textContent);
  const audio = document.getElementById("wtl-audio");
  const plots = document.getElementById("wtl-plots");
  const status = document.getElementById("wtl-status");
  const clock = document.getElementById("wtl-time");
  const offset = data.audio.offset;  // file seconds at the audio element's time 0
  const extent = data.extent;
  const view = { t0: extent[0], t1: extent[1] };
  const minSpan = Math.min(0.2, extent[1] - extent[0]);

  function bytes(b64) {
    const bin = atob(b64.trim());
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const embedded = document.getElementById("wtl-ogg");
  if (embedded) {
    audio.src = URL.createObjectURL(new Blob([bytes(embedded.textContent)], { type: "audio/ogg" }));
  }
  const arrays = data.arrays.map((b64) => new Float32Array(bytes(b64).buffer));

  const queries = data.queries.map((q, k) => {
    const base = arrays[q.base], steered = arrays[q.steered];
    const delta = new Float32Array(base.length);
    for (let i = 0; i < base.length; i++) delta[i] = steered[i] - base[i];
    const time = q.time ? Float64Array.from(q.time) : null;
    return Object.assign({}, q, { k, baseCurve: base, steeredCurve: steered, deltaCurve: delta, times: time });
  });
  // Every detection of every query, in time order: the table's rows and the n/p keys.
  const detections = [];
  queries.forEach((q) => q.detections.forEach((d, j) => detections.push({ q: q.k, j, onset: d.onset_s, offset: d.offset_s, score: d.score })));
  detections.sort((a, b) => a.onset - b.onset || a.q - b.q);

  // Token i of query q covers [t(i), t(i) + step): curves are drawn at token centres.
  function tokenTime(q, i) { return (q.times ? q.times[i] : q.t0 + i * q.step) + q.step / 2; }
  function firstToken(q, t) {
    if (!q.times) return Math.max(0, Math.floor((t - q.t0) / q.step - 0.5));
    let lo = 0, hi = q.times.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (q.times[m] < t) lo = m + 1; else hi = m; }
    return Math.max(0, lo - 1);
  }

  // ----- layout: one row per plot, a label column and a canvas --------------------------------
  const rows = [];
  function addRow(label, kind, height, q, title) {
    const row = document.createElement("div");
    row.className = "wtl-row wtl-" + kind;
    const name = document.createElement("div");
    name.className = "wtl-label";
    name.textContent = label;
    if (title) name.title = title;
    const canvas = document.createElement("canvas");
    canvas.style.height = height + "px";
    canvas.dataset.kind = kind;
    if (q !== null) canvas.dataset.q = String(q);
    row.append(name, canvas);
    plots.insertBefore(row, document.getElementById("wtl-playhead"));
    rows.push({ canvas, kind, q, height });
  }
  addRow("spectrogram", "spec", 90, null);
  if (data.gt.length) addRow("ground truth", "gt", 18, null);
  queries.forEach((q) => {
    const n = queries.length > 1 ? (q.k + 1) + ": " : "";
    addRow(n + "“" + q.query + "”", "att", 70, q.k, "attention to audio per token: base (blue), steered (orange)");
    addRow("Δ steered − base", "delta", 70, q.k);
    addRow("detections", "det", 16, q.k);
  });
  addRow("time", "axis", 22, null);

  const spectrogram = document.getElementById("wtl-spec");

  // ----- drawing -----------------------------------------------------------------------------------
  function prepare(row) {
    const c = row.canvas, ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * ratio)), h = Math.max(1, Math.round(row.height * ratio));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, c.clientWidth, row.height);
    return { g, w: c.clientWidth, h: row.height };
  }
  function xOf(t, w) { return (t - view.t0) / (view.t1 - view.t0) * w; }

  // A curve's min and max per pixel column, or its points when the view holds few tokens.
  function columns(q, curve, w) {
    const n = curve.length, i0 = firstToken(q, view.t0), span = view.t1 - view.t0;
    let i1 = i0;
    while (i1 < n && tokenTime(q, i1) <= view.t1 + q.step) i1++;
    const points = [];
    if (i1 - i0 <= 2 * w) {
      for (let i = Math.max(0, i0 - 1); i < Math.min(n, i1 + 1); i++) points.push([xOf(tokenTime(q, i), w), curve[i], curve[i]]);
      return points;
    }
    const lo = new Float32Array(w + 1).fill(Infinity), hi = new Float32Array(w + 1).fill(-Infinity);
    for (let i = i0; i < i1; i++) {
      const px = Math.floor((tokenTime(q, i) - view.t0) / span * w);
      if (px < 0 || px > w) continue;
      const v = curve[i];
      if (v < lo[px]) lo[px] = v;
      if (v > hi[px]) hi[px] = v;
    }
    for (let px = 0; px <= w; px++) if (hi[px] >= lo[px]) points.push([px + 0.5, lo[px], hi[px]]);
    return points;
  }
  function range(sets, zero) {
    let lo = zero ? 0 : Infinity, hi = zero ? 0 : -Infinity;
    sets.forEach((pts) => pts.forEach((p) => { if (p[1] < lo) lo = p[1]; if (p[2] > hi) hi = p[2]; }));
    if (!(hi > lo)) { hi = lo + 1e-9; lo -= 1e-9; }
    const pad = (hi - lo) * 0.08;
    return [lo - pad, hi + pad];
  }
  function stroke(g, pts, y, color, width) {
    g.strokeStyle = color; g.lineWidth = width; g.beginPath();
    pts.forEach((p, i) => {
      if (i === 0) g.moveTo(p[0], y(p[1])); else g.lineTo(p[0], y(p[1]));
      if (p[2] !== p[1]) g.lineTo(p[0], y(p[2]));
    });
    g.stroke();
  }
  function spans(g, items, w, y0, y1, color, alpha) {
    g.globalAlpha = alpha; g.fillStyle = color;
    items.forEach((s) => {
      const a = xOf(s[0], w), b = xOf(s[1], w);
      if (b >= 0 && a <= w) g.fillRect(a, y0, Math.max(1, b - a), y1 - y0);
    });
    g.globalAlpha = 1;
  }
  function vline(g, t, w, h, color, dash) {
    const x = xOf(t, w);
    if (x < 0 || x > w) return;
    g.strokeStyle = color; g.lineWidth = 1.2; g.setLineDash(dash ? [4, 3] : []);
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke(); g.setLineDash([]);
  }
  // A ground-truth label is "queried" when every word of it starts a word of some query (chirp: chirping).
  function words(text) { return text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w); }
  function queried(label) {
    const need = words(label);
    return need.length > 0 && queries.some((q) => { const have = words(q.query); return need.every((w) => have.some((h) => h.startsWith(w))); });
  }
  function niceStep(span, w) {
    const raw = span / Math.max(1, w / 90), p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function fmtTime(t, step) {
    const digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
    if (extent[1] < 120) return t.toFixed(digits) + " s";
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(digits);
  }
  function grid(g, w, h) {
    const step = niceStep(view.t1 - view.t0, w);
    g.strokeStyle = COLORS.grid; g.lineWidth = 1;
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = Math.round(xOf(t, w)) + 0.5;
      g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke();
    }
  }

  function drawRow(row) {
    const { g, w, h } = prepare(row);
    const q = row.q === null ? null : queries[row.q];
    if (row.kind === "spec") {
      if (!spectrogram.complete || !spectrogram.naturalWidth) return;
      const cols = spectrogram.naturalWidth, colS = data.spectrogram.column_s, s0 = data.spectrogram.start_s;
      const a = Math.max(view.t0, s0), b = Math.min(view.t1, s0 + cols * colS);
      if (b <= a) return;
      g.imageSmoothingEnabled = (b - a) / colS > w;
      g.drawImage(spectrogram, (a - s0) / colS, 0, (b - a) / colS, spectrogram.naturalHeight,
        xOf(a, w), 0, xOf(b, w) - xOf(a, w), h);
    } else if (row.kind === "gt") {
      data.gt.forEach((e) => {
        spans(g, [[e.onset_s, e.offset_s]], w, 2, h - 2, queried(e.label) ? COLORS.gt : COLORS.other, 0.55);
        const x = Math.max(0, xOf(e.onset_s, w));
        if (x < w && xOf(e.offset_s, w) - x > 30) { g.fillStyle = "#123"; g.font = "11px sans-serif"; g.fillText(e.label, x + 3, h - 5); }
      });
    } else if (row.kind === "att" || row.kind === "delta") {
      grid(g, w, h);
      const curves = row.kind === "att" ? [[q.baseCurve, COLORS.base], [q.steeredCurve, COLORS.steered]] : [[q.deltaCurve, COLORS.delta]];
      const pts = curves.map((c) => columns(q, c[0], w));
      const [lo, hi] = range(pts, row.kind === "delta");
      const y = (v) => h - (v - lo) / (hi - lo) * h;
      if (row.kind === "delta") {
        spans(g, q.detections.map((d) => [d.onset_s, d.offset_s]), w, 0, h, COLORS.det, 0.18);
        g.strokeStyle = "#999"; g.lineWidth = 0.8; g.beginPath(); g.moveTo(0, y(0)); g.lineTo(w, y(0)); g.stroke();
      }
      pts.forEach((p, i) => stroke(g, p, y, curves[i][1], 1.2));
      if (row.kind === "delta" && q.peak_s !== null) vline(g, q.peak_s, w, h, COLORS.peak, true);
      g.fillStyle = COLORS.text; g.font = "10px sans-serif";
      g.fillText(hi.toPrecision(2), 2, 10); g.fillText(lo.toPrecision(2), 2, h - 2);
    } else if (row.kind === "det") {
      q.detections.forEach((d) => spans(g, [[d.onset_s, d.offset_s]], w, 2, h - 2, COLORS.det, 0.9));
      if (q.interval_s) { g.strokeStyle = COLORS.peak; g.strokeRect(xOf(q.interval_s[0], w), 1, xOf(q.interval_s[1], w) - xOf(q.interval_s[0], w), h - 2); }
    } else if (row.kind === "axis") {
      const step = niceStep(view.t1 - view.t0, w);
      g.fillStyle = COLORS.text; g.font = "11px sans-serif"; g.strokeStyle = "#888";
      for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
        const x = xOf(t, w);
        g.beginPath(); g.moveTo(x, 0); g.lineTo(x, 5); g.stroke();
        g.fillText(fmtTime(t, step), Math.min(x + 2, w - 50), 17);
      }
    }
  }
  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const start = performance.now();
      rows.forEach(drawRow);
      movePlayhead();
      const page = window.wtlPage;
      if (page) { page.lastDrawMs = performance.now() - start; if (!page.drawnAt && spectrogram.complete) page.drawnAt = performance.now(); }
    });
  }

  // ----- the playhead and the audio ---------------------------------------------------------------------
  const playhead = document.getElementById("wtl-playhead");
  function fileTime() { return audio.currentTime + offset; }
  function movePlayhead() {
    const t = fileTime(), canvas = rows[0].canvas;
    const left = canvas.offsetLeft, w = canvas.clientWidth;
    const x = xOf(t, w);
    playhead.style.display = x < 0 || x > w ? "none" : "block";
    playhead.style.left = (left + x) + "px";
    clock.textContent = fmtTime(t, 0.01);
    const current = detections.findIndex((d) => d.onset <= t && t < d.offset);
    document.querySelectorAll("#wtl-detections tbody tr").forEach((tr, i) => tr.classList.toggle("current", i === current));
  }
  function follow() {
    const t = fileTime(), span = view.t1 - view.t0;
    if (t > view.t1 || t < view.t0) { setView(t - span * 0.1, t + span * 0.9); }
  }
  function tick() {
    follow();
    movePlayhead();
    if (!audio.paused) requestAnimationFrame(tick);
  }
  function say(text) { status.textContent = text; }
  function play() {
    const p = audio.play();
    if (p && p.catch) p.catch((e) => say("cannot play: " + e.message));
  }
  function seek(t, start) {
    const end = Number.isFinite(audio.duration) ? audio.duration : data.audio.duration_s;
    audio.currentTime = Math.min(Math.max(0, t - offset), end);
    if (t < view.t0 || t > view.t1) { const span = view.t1 - view.t0; setView(t - span * 0.25, t + span * 0.75); }
    movePlayhead();
    if (start) play();
  }
  audio.addEventListener("play", () => requestAnimationFrame(tick));
  ["seeked", "timeupdate", "pause"].forEach((e) => audio.addEventListener(e, movePlayhead));
  audio.addEventListener("error", () => say("the audio cannot be played here" + (data.audio.link ? " (is " + data.audio.link + " beside the page?)" : "")));

  // ----- zoom, pan and clicks ---------------------------------------------------------------------------
  function setView(a, b) {
    let span = Math.min(Math.max(b - a, minSpan), extent[1] - extent[0]);
    a = Math.min(Math.max(a, extent[0]), extent[1] - span);
    view.t0 = a; view.t1 = a + span;
    redraw();
  }
  function zoom(factor, centre) {
    const c = centre === undefined ? (view.t0 + view.t1) / 2 : centre;
    setView(c - (c - view.t0) * factor, c + (view.t1 - c) * factor);
  }
  function timeAt(canvas, clientX) {
    const r = canvas.getBoundingClientRect();
    return view.t0 + (clientX - r.left) / r.width * (view.t1 - view.t0);
  }
  function spanAt(row, t) {
    const items = row.kind === "gt" ? data.gt : row.kind === "det" ? queries[row.q].detections : [];
    return items.find((s) => s.onset_s <= t && t < s.offset_s);
  }
  rows.forEach((row) => {
    const c = row.canvas;
    let down = null;
    c.addEventListener("pointerdown", (e) => { down = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false }; c.setPointerCapture(e.pointerId); });
    c.addEventListener("pointermove", (e) => {
      if (!down) return;
      const dx = e.clientX - down.x;
      if (Math.abs(dx) > 3) down.moved = true;
      if (down.moved) { const dt = dx / c.clientWidth * (down.t1 - down.t0); setView(down.t0 - dt, down.t1 - dt); }
    });
    c.addEventListener("pointerup", (e) => {
      const was = down; down = null;
      if (!was || was.moved) return;
      const t = timeAt(c, e.clientX), hit = spanAt(row, t);
      seek(hit ? hit.onset_s : t, true);
    });
    c.addEventListener("wheel", (e) => { e.preventDefault(); zoom(Math.exp(e.deltaY * 0.0015), timeAt(c, e.clientX)); }, { passive: false });
    c.addEventListener("dblclick", () => setView(extent[0], extent[1]));
  });
  document.getElementById("wtl-zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("wtl-zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("wtl-zoom-all").addEventListener("click", () => setView(extent[0], extent[1]));
  root.querySelectorAll("button").forEach((b) => b.addEventListener("mousedown", (e) => e.preventDefault()));
  document.querySelectorAll("#wtl-detections tbody tr, #wtl-gt tbody tr").forEach((tr) => {
    tr.addEventListener("click", () => seek(parseFloat(tr.dataset.t), true));
  });

  // ----- keys: space play/pause, n/p next/previous detection, +/- zoom -------------------------------------
  function jump(direction) {
    if (!detections.length) { say("no detections"); return; }
    const t = fileTime();
    const next = direction > 0
      ? detections.find((d) => d.onset > t + 0.05)
      : [...detections].reverse().find((d) => d.onset < t - 0.3);
    const d = next || (direction > 0 ? detections[0] : detections[detections.length - 1]);
    seek(d.onset, true);
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (e.key === " " && e.target !== audio) { e.preventDefault(); if (audio.paused) play(); else audio.pause(); }
    else if (e.key === "n") jump(1);
    else if (e.key === "p") jump(-1);
    else if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
  });

  window.addEventListener("resize", redraw);
  if (spectrogram.complete) redraw(); else spectrogram.addEventListener("load", redraw);
  redraw();
  window.wtlPage = { view, seek, setView, detections, ready: true, readyAt: performance.now(), drawnAt: 0, lastDrawMs: 0 };
})();
