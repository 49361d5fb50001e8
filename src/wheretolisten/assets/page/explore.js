// wheretolisten explore: choose or drop audio, type queries, set layers and α; each run shows its page.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const select = $("ex-audio"), query = $("ex-query"), status = $("ex-status"), view = $("ex-view");
  const chips = $("ex-queries"), drop = $("ex-drop");
  const state = { queries: [], runs: 0, busy: false, again: false, errors: 0 };
  window.wtlExplore = state;

  function say(text, error) {
    status.textContent = text;
    status.className = error ? "error" : "note";
    if (error) state.errors += 1;
  }
  async function call(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      throw new Error("the explorer is not answering (is `wheretolisten explore` still running?)");
    }
    let body;
    try { body = await response.json(); } catch (e) { throw new Error("unexpected answer (" + response.status + ")"); }
    if (body.error || !response.ok) throw new Error(body.error || "error " + response.status);
    return body;
  }
  function addOption(item) {
    const option = document.createElement("option");
    option.value = item.key;
    option.textContent = item.name + " (" + item.duration_s.toFixed(1) + " s)";
    select.append(option);
    return option;
  }
  function renderChips() {
    chips.textContent = "";
    state.queries.forEach((q, i) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = q;
      const remove = document.createElement("button");
      remove.textContent = "×";
      remove.title = "remove this query";
      remove.addEventListener("click", () => { state.queries.splice(i, 1); renderChips(); if (state.queries.length) run(); });
      chip.append(remove);
      chips.append(chip);
    });
  }
  async function run() {
    if (!select.value) { say("Choose an audio file first: drop one in, or give it on the command line.", true); return; }
    if (!state.queries.length) { say("Type a query: the sound to find, e.g. a dog barking.", true); return; }
    if (state.busy) { state.again = true; return; }  // a change during a run: run once more after it
    state.busy = true;
    state.again = false;
    const started = performance.now();
    say("localizing " + state.queries.length + " quer" + (state.queries.length > 1 ? "ies" : "y") + "…");
    try {
      const body = await call("/run", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ audio: select.value, queries: state.queries, layers: $("ex-layers").value, alpha: $("ex-alpha").value }),
      });
      view.srcdoc = body.html;
      state.runs += 1;
      say("done in " + ((performance.now() - started) / 1000).toFixed(1) + " s: click a curve, span or row to listen there.");
    } catch (e) {
      say(e.message, true);
    } finally {
      state.busy = false;
      if (state.again) run();
    }
  }
  function addQuery() {
    const text = query.value.trim();
    if (!text) { say("Type a query: the sound to find, e.g. a dog barking.", true); return; }
    if (!state.queries.includes(text)) state.queries.push(text);
    query.value = "";
    renderChips();
    run();
  }
  async function upload(file) {
    say("reading " + file.name + "…");
    try {
      const item = await call("/upload?name=" + encodeURIComponent(file.name), { method: "POST", body: file });
      addOption(item).selected = true;
      say(item.name + " is ready" + (state.queries.length ? "" : ": type a query and press Enter."));
      if (state.queries.length) run();
    } catch (e) {
      say(e.message, true);
    }
  }

  query.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addQuery(); } });
  $("ex-add").addEventListener("click", addQuery);
  $("ex-run").addEventListener("click", run);
  ["ex-layers", "ex-alpha"].forEach((id) => $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") run(); }));
  select.addEventListener("change", () => { if (state.queries.length) run(); });
  $("ex-file").addEventListener("change", (e) => { if (e.target.files.length) upload(e.target.files[0]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  call("/audio").then((items) => { items.forEach(addOption); state.ready = true; }).catch((e) => { say(e.message, true); state.ready = true; });
})();
