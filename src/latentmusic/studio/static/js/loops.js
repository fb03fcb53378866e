// Latent Loops: a scale-locked sketch grid, four corners, the palette between them, a timeline.
"use strict";
(async () => {
  const { $, el, state, api, apiBlob, status, fail, drawRoll, SCALES, NOTE_NAMES } = Studio;
  const STEPS = 32; // two bars of 16th notes
  const player = new Studio.Player();
  const page = {
    cells: new Array(STEPS).fill(null), // scale-degree row (0 = lowest) per step, or null
    corners: [null, null, null, null],
    palette: null, // the grid response
    selected: null, // index into the palette
    timeline: [],
    exported: null,
    request: 0,
  };
  state.loops = page;

  try { await Studio.boot(); } catch (err) { fail(err); return; }
  const usable = Studio.modelPicker((m) => m.family === "musicvae" && m.representation === "melody");
  if (!usable.length) {
    const notice = $("#no-model");
    notice.textContent = "No melody model is loaded. Start the studio with a MusicVAE melody model: "
      + "latentmusic studio --models cat-mel_2bar_small (shipped) or --models RUN (one you trained).";
    notice.classList.remove("hidden");
    for (const b of document.querySelectorAll("main button, main select, main input")) b.disabled = true;
    status("No melody model.", true);
    return;
  }
  const model = () => encodeURIComponent($("#model").value);

  // ------------------------------------------------------------------- scale and rows
  $("#tonic").replaceChildren(...NOTE_NAMES.map((n, i) => el("option", { value: String(i), text: n })));
  $("#scale").replaceChildren(...Object.keys(SCALES).map((s) => el("option", { value: s, text: s })));
  $("#scale").value = "major";
  const tonic = () => Number($("#tonic").value);
  const scale = () => $("#scale").value;
  // Two octaves (and the top tonic) of the scale, lowest first, around middle C.
  function rows() {
    const base = 60 + tonic() - (tonic() >= 6 ? 12 : 0);
    const out = [];
    for (let p = base; p <= base + 24; p++) if (Studio.inScale(p, tonic(), scale())) out.push(p);
    return out;
  }

  // ---------------------------------------------------------------------- the sketch
  function sketchMelody() {
    const pitches = rows();
    const notes = [];
    for (let t = 0; t < STEPS; t++) {
      const row = page.cells[t];
      if (row === null) continue;
      const pitch = pitches[Math.min(row, pitches.length - 1)];
      const last = notes[notes.length - 1];
      if (last && last.end === t && last.pitch === pitch && page.cells[t - 1] !== null) last.end = t + 1;
      else notes.push({ pitch, start: t, end: t + 1, velocity: 90 });
    }
    return { notes, total_steps: STEPS, qpm: Number($("#qpm").value) || 110 };
  }

  function buildSketch() {
    const grid = $("#sketch");
    const pitches = rows();
    grid.style.gridTemplateColumns = `44px repeat(${STEPS}, minmax(0, 1fr))`;
    const cells = [];
    for (let r = pitches.length - 1; r >= 0; r--) {
      cells.push(el("span", { class: "label", text: Studio.pitchName(pitches[r]) }));
      for (let t = 0; t < STEPS; t++) {
        const classes = ["cell"];
        if (t % 4 === 0) classes.push("beat");
        if ((pitches[r] - tonic()) % 12 === 0) classes.push("tonic");
        cells.push(el("button", {
          class: classes.join(" "), "data-row": String(r), "data-step": String(t), tabindex: "-1",
          "aria-label": `${Studio.pitchName(pitches[r])}, step ${t + 1}`, "aria-pressed": "false",
        }));
      }
    }
    grid.replaceChildren(...cells);
    const first = grid.querySelector(".cell");
    if (first) first.tabIndex = 0;
    for (let t = 0; t < STEPS; t++) if (page.cells[t] !== null && page.cells[t] >= pitches.length) page.cells[t] = pitches.length - 1;
    paintSketch();
  }

  function paintSketch() {
    const melody = sketchMelody();
    for (const cell of $("#sketch").querySelectorAll(".cell")) {
      const t = Number(cell.dataset.step), r = Number(cell.dataset.row);
      const on = page.cells[t] === r;
      const held = on && t > 0 && page.cells[t - 1] === r;
      cell.classList.toggle("on", on && !held);
      cell.classList.toggle("held", held);
      cell.setAttribute("aria-pressed", on ? "true" : "false");
    }
    const n = melody.notes.length;
    $("#sketch-info").textContent = n ? `${n} note${n === 1 ? "" : "s"} in ${NOTE_NAMES[tonic()]} ${scale()}` : "empty";
    $("#sketch").dataset.notes = String(n);
    for (const button of document.querySelectorAll(".corner .use-sketch")) button.disabled = n === 0;
  }

  function toggle(cell) {
    const t = Number(cell.dataset.step), r = Number(cell.dataset.row);
    page.cells[t] = page.cells[t] === r ? null : r;
    paintSketch();
  }
  $("#sketch").addEventListener("click", (event) => {
    const cell = event.target.closest(".cell");
    if (cell) toggle(cell);
  });
  $("#sketch").addEventListener("keydown", (event) => {
    const cell = event.target.closest(".cell");
    if (!cell) return;
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [1, 0], ArrowDown: [-1, 0] };
    if (event.key in moves) {
      event.preventDefault();
      const [dr, dt] = moves[event.key];
      const r = Number(cell.dataset.row) + dr, t = Number(cell.dataset.step) + dt;
      const next = $(`#sketch .cell[data-row="${r}"][data-step="${t}"]`);
      if (next) { cell.tabIndex = -1; next.tabIndex = 0; next.focus(); }
    }
  });
  $("#tonic").addEventListener("change", buildSketch);
  $("#scale").addEventListener("change", buildSketch);
  $("#sketch-clear").addEventListener("click", () => { page.cells.fill(null); paintSketch(); });
  $("#sketch-play").addEventListener("click", () => playLoop([sketchMelody()], true));
  $("#sketch-stop").addEventListener("click", stopAll);

  // Put a melody on the sketch: each note's onset lands on the nearest scale row.
  function loadSketch(melody) {
    const pitches = rows();
    page.cells.fill(null);
    for (const n of melody.notes) {
      if (n.start >= STEPS) continue;
      let pitch = Studio.snap(n.pitch, tonic(), scale());
      while (pitch < pitches[0]) pitch += 12;
      while (pitch > pitches[pitches.length - 1]) pitch -= 12;
      const row = pitches.indexOf(Studio.snap(pitch, tonic(), scale()));
      if (row < 0) continue;
      // a repeated note needs a gap before it, or it would merge with the one before
      if (n.start > 0 && page.cells[n.start - 1] === row) page.cells[n.start - 1] = null;
      for (let t = n.start; t < Math.min(n.end, STEPS); t++) page.cells[t] = row;
    }
    paintSketch();
  }

  // --------------------------------------------------------------------- the corners
  const CORNER_NAMES = ["top left", "top right", "bottom left", "bottom right"];
  const DEFAULT_CORNERS = ["Twinkle", "Arpeggio up", "Falling scale", "Pentatonic"];
  function buildCorners() {
    const holder = $("#corners");
    holder.replaceChildren(...CORNER_NAMES.map((name, i) => el("div", { class: "corner", "data-corner": String(i) },
      el("span", { class: "name", text: `${String.fromCharCode(65 + i)} · ${name}` }),
      el("canvas", { class: "mini", "aria-label": `Corner ${name}` }),
      el("div", { class: "row" },
        el("button", { class: "use-sketch", text: "Put sketch here", onclick: () => setCorner(i, sketchMelody()) }),
        el("button", { text: "Edit", onclick: () => page.corners[i] && loadSketch(page.corners[i]) }),
        el("button", { text: "Sample", onclick: () => sampleCorner(i) })))));
    DEFAULT_CORNERS.forEach((name, i) => {
      const preset = state.presets.melodies.find((p) => p.name === name) || state.presets.melodies[i];
      page.corners[i] = preset.melody;
    });
    drawCorners();
  }
  function drawCorners() {
    document.querySelectorAll(".corner").forEach((node, i) => {
      drawRoll(node.querySelector("canvas"), [page.corners[i]], { color: ["#e4572e", "#f2a541", "#9b5de5", "#17bebb"][i] });
    });
  }
  function setCorner(i, melody) {
    page.corners[i] = melody;
    drawCorners();
    status(`Corner ${String.fromCharCode(65 + i)} holds ${melody.notes.length} notes; generate the palette to hear what lies between.`);
  }
  async function sampleCorner(i) {
    try {
      const result = await api(`/api/models/${model()}/sample`, { n: 1, temperature: 0.5, qpm: Number($("#qpm").value) || 110 });
      setCorner(i, result.melodies[0]);
    } catch (err) { fail(err); }
  }

  // --------------------------------------------------------------------- the palette
  const sizeSelect = $("#size");
  for (let n = 3; n <= state.limits.max_grid; n += 2) sizeSelect.append(el("option", { value: String(n), text: `${n} × ${n}` }));
  sizeSelect.value = "5";
  const shown = (melody) => ($("#lock").checked ? Studio.snapMelody(melody, tonic(), scale()) : melody);

  async function generate() {
    const size = Number(sizeSelect.value);
    const id = ++page.request;
    const started = performance.now();
    status(`Decoding a ${size} × ${size} palette…`);
    try {
      const result = await api(`/api/models/${model()}/grid`, { corners: page.corners, size });
      if (id !== page.request) return;
      page.palette = result;
      page.selected = null;
      $("#add").disabled = true;
      drawPalette();
      const ms = Math.round(performance.now() - started);
      status(`${result.melodies.length} loops decoded in ${ms} ms. Click one to hear it; drag it to the timeline.`);
    } catch (err) { if (id === page.request) fail(err); }
  }

  function drawPalette() {
    const holder = $("#palette");
    const result = page.palette;
    if (!result) return;
    holder.style.gridTemplateColumns = `repeat(${result.cols}, minmax(0, 1fr))`;
    const items = result.melodies.map((melody, i) => {
      const r = Math.floor(i / result.cols), c = i % result.cols;
      const item = el("button", {
        class: "item", draggable: "true", "data-index": String(i), "data-notes": String(melody.notes.length),
        "aria-label": `Loop at row ${r + 1}, column ${c + 1}: ${melody.notes.length} notes`,
      }, el("canvas"));
      item.addEventListener("click", () => select(i, true));
      item.addEventListener("dblclick", () => addToTimeline(i));
      item.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); addToTimeline(i); } });
      item.addEventListener("dragstart", (event) => {
        event.dataTransfer.setData("application/x-latent-loop", String(i));
        event.dataTransfer.setData("text/plain", `loop ${i}`);
        event.dataTransfer.effectAllowed = "copy";
      });
      return item;
    });
    holder.replaceChildren(...items);
    holder.dataset.count = String(items.length);
    items.forEach((item, i) => {
      const tx = (i % result.cols) / Math.max(1, result.cols - 1), ty = Math.floor(i / result.cols) / Math.max(1, result.rows - 1);
      const hue = Math.round(15 + 165 * tx + 80 * ty);
      drawRoll(item.querySelector("canvas"), [shown(result.melodies[i])], { color: `hsl(${hue}, 70%, 60%)`, range: [45, 90] });
    });
  }

  function select(i, audition) {
    page.selected = i;
    for (const item of document.querySelectorAll("#palette .item")) item.classList.toggle("selected", Number(item.dataset.index) === i);
    $("#add").disabled = false;
    if (audition) playLoop([shown(page.palette.melodies[i])], false);
  }

  $("#generate").addEventListener("click", generate);
  $("#lock").addEventListener("change", drawPalette);
  $("#add").addEventListener("click", () => page.selected !== null && addToTimeline(page.selected));

  // -------------------------------------------------------------------- the timeline
  const timeline = $("#timeline");
  timeline.addEventListener("dragover", (event) => {
    if (![...event.dataTransfer.types].includes("application/x-latent-loop")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    timeline.classList.add("over");
  });
  timeline.addEventListener("dragleave", () => timeline.classList.remove("over"));
  timeline.addEventListener("drop", (event) => {
    timeline.classList.remove("over");
    const index = event.dataTransfer.getData("application/x-latent-loop");
    if (index === "") return;
    event.preventDefault();
    addToTimeline(Number(index));
  });

  function addToTimeline(i) {
    if (!page.palette) return;
    if (page.timeline.length >= 64) { status("The timeline holds at most 64 loops.", true); return; }
    page.timeline.push(shown(page.palette.melodies[i]));
    page.exported = null;
    drawTimeline();
    status(`Timeline: ${page.timeline.length} loop${page.timeline.length === 1 ? "" : "s"}.`);
  }
  function drawTimeline() {
    if (!page.timeline.length) {
      timeline.replaceChildren(el("span", { class: "empty", text: "Drag loops from the palette here (or select one and press Enter)." }));
    } else {
      timeline.replaceChildren(...page.timeline.map((melody, i) => el("div", { class: "slot", "data-index": String(i) },
        el("canvas"),
        el("button", { text: "×", "aria-label": `Remove loop ${i + 1}`, onclick: () => { page.timeline.splice(i, 1); drawTimeline(); } }))));
      timeline.querySelectorAll(".slot").forEach((slot, i) => drawRoll(slot.querySelector("canvas"), [page.timeline[i]], { color: "#f2a541", range: [45, 90] }));
    }
    timeline.dataset.count = String(page.timeline.length);
    timeline.dataset.notes = String(page.timeline.reduce((sum, m) => sum + m.notes.length, 0));
  }
  $("#timeline-clear").addEventListener("click", () => { page.timeline = []; drawTimeline(); });

  // -------------------------------------------------------------------- play, export
  function playLoop(melodies, loop, onStep) {
    const seq = Studio.sequenceOf(melodies);
    player.start({ qpm: Number($("#qpm").value) || 110, length: seq.length, notesAt: seq.notesAt, loop, onStep });
  }
  function stopAll() {
    player.stop();
    for (const slot of timeline.querySelectorAll(".slot")) slot.classList.remove("playing");
    timeline.dataset.playing = "false";
  }
  $("#play").addEventListener("click", () => {
    if (!page.timeline.length) { status("Put loops on the timeline first.", true); return; }
    timeline.dataset.playing = "true";
    playLoop(page.timeline, true, (step) => {
      const current = Math.floor(step / STEPS);
      timeline.dataset.step = String(step);
      timeline.querySelectorAll(".slot").forEach((slot, i) => slot.classList.toggle("playing", i === current));
    });
  });
  $("#stop").addEventListener("click", stopAll);
  $("#qpm").addEventListener("change", () => { player.qpm = Number($("#qpm").value) || 110; });

  $("#export").addEventListener("click", async () => {
    if (!page.timeline.length) { status("Put loops on the timeline first.", true); return; }
    try {
      const blob = await apiBlob("/api/export", { melodies: page.timeline, qpm: Number($("#qpm").value) || 110 });
      const notes = page.timeline.reduce((sum, m) => sum + m.notes.length, 0);
      page.exported = { bytes: blob.size, notes, loops: page.timeline.length, blob };
      Studio.download(blob, "latent-loops.mid");
      status(`Exported ${page.timeline.length} loops (${notes} notes) as one MIDI file.`);
    } catch (err) { fail(err); }
  });

  buildSketch();
  buildCorners();
  drawTimeline();
  window.addEventListener("resize", () => { drawCorners(); drawPalette(); drawTimeline(); });
  await generate();
  document.body.dataset.ready = "true";
})();
