// Beat Blender: four corner drum loops, the palette between them, a puck, a path.
"use strict";
(async () => {
  const { $, el, state, api, apiBlob, status, fail, drawRoll } = Studio;
  const player = new Studio.Player();
  const page = {
    corners: [null, null, null, null],
    palette: null, // the grid response
    puck: { x: 0, y: 0 }, // column, row
    path: [], // cells [col, row] the puck follows, one loop each
    pathIndex: 0,
    request: 0,
    exported: null,
  };
  state.blender = page;

  try { await Studio.boot(); } catch (err) { fail(err); return; }
  const usable = Studio.modelPicker((m) => m.family === "musicvae" && m.representation === "drums", () => generate());
  const model = () => encodeURIComponent($("#model").value);
  const size = state.limits.max_grid;

  // ---------------------------------------------------------------------- corners
  const CORNER_NAMES = ["top left", "top right", "bottom left", "bottom right"];
  function buildCorners() {
    $("#corners").replaceChildren(...CORNER_NAMES.map((name, i) => {
      const select = el("select", { "aria-label": `Corner ${name} preset` },
        ...state.presets.drums.map((p, j) => el("option", { value: String(j), text: p.name })));
      select.value = String(i % state.presets.drums.length);
      select.addEventListener("change", () => { setCorner(i, state.presets.drums[Number(select.value)].melody); generate(); });
      return el("div", { class: "corner", "data-corner": String(i) },
        el("span", { class: "name", text: `${String.fromCharCode(65 + i)} · ${name}` }),
        el("canvas", { class: "mini", "aria-label": `Corner ${name}` }),
        el("div", { class: "row" }, select,
          el("button", { text: "Sample", disabled: !usable.length, onclick: () => sampleCorner(i) })));
    }));
    state.presets.drums.slice(0, 4).forEach((p, i) => { page.corners[i] = p.melody; });
    drawCorners();
  }
  function drawCorners() {
    document.querySelectorAll(".corner").forEach((node, i) => drawRoll(node.querySelector("canvas"), [page.corners[i]], { drums: true, color: ["#e4572e", "#f2a541", "#9b5de5", "#17bebb"][i] }));
  }
  function setCorner(i, melody) { page.corners[i] = melody; drawCorners(); }
  async function sampleCorner(i) {
    try {
      const result = await api(`/api/models/${model()}/sample`, { n: 1, temperature: 0.7 });
      setCorner(i, result.melodies[0]);
      generate();
    } catch (err) { fail(err); }
  }
  buildCorners();

  if (!usable.length) {
    const notice = $("#no-model");
    notice.textContent = (state.notes && state.notes.drums) || "No drum model is loaded.";
    notice.classList.remove("hidden");
    for (const c of ["#generate", "#play", "#stop", "#export", "#clear-path", "#tempo"]) $(c).disabled = true;
    status("No drum model: the corners show the presets, the palette needs a model.", true);
    document.body.dataset.ready = "true";
    return;
  }

  // ---------------------------------------------------------------------- the palette
  const pad = $("#pad");
  const current = () => (page.palette ? page.palette.melodies[page.puck.y * size + page.puck.x] : null);

  async function generate() {
    const id = ++page.request;
    const started = performance.now();
    status(`Decoding the ${size} × ${size} palette…`);
    try {
      const result = await api(`/api/models/${model()}/grid`, { corners: page.corners, size });
      if (id !== page.request) return;
      page.palette = result;
      drawPad();
      drawBeat();
      status(`${result.melodies.length} beats decoded in ${Math.round(performance.now() - started)} ms.`);
    } catch (err) { if (id === page.request) fail(err); }
  }

  function drawPad() {
    const ratio = window.devicePixelRatio || 1;
    const w = pad.clientWidth, h = pad.clientHeight;
    pad.width = Math.round(w * ratio); pad.height = Math.round(h * ratio);
    const ctx = pad.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const cw = w / size, ch = h / size;
    const melodies = page.palette ? page.palette.melodies : [];
    melodies.forEach((melody, i) => {
      const c = i % size, r = Math.floor(i / size);
      const hue = Math.round(15 + 165 * c / (size - 1) + 80 * r / (size - 1));
      ctx.fillStyle = `hsla(${hue}, 60%, 45%, ${0.12 + Math.min(0.5, melody.notes.length / 80)})`;
      ctx.fillRect(c * cw + 1, r * ch + 1, cw - 2, ch - 2);
      ctx.fillStyle = `hsl(${hue}, 80%, 72%)`;
      const sx = (cw - 6) / 32, sy = (ch - 6) / 9;
      for (const n of melody.notes) {
        const row = { 36: 0, 38: 1, 42: 2, 46: 3, 45: 4, 48: 5, 50: 6, 49: 7, 51: 8 }[n.pitch] ?? 2;
        ctx.fillRect(c * cw + 3 + n.start * sx, r * ch + 3 + (8 - row) * sy, Math.max(1, sx), Math.max(1, sy - 0.5));
      }
    });
    if (page.path.length > 1) {
      ctx.strokeStyle = "rgba(255,255,255,0.7)";
      ctx.lineWidth = 2;
      ctx.beginPath();
      page.path.forEach(([c, r], i) => { const x = (c + 0.5) * cw, y = (r + 0.5) * ch; if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.stroke();
    }
    const px = (page.puck.x + 0.5) * cw, py = (page.puck.y + 0.5) * ch;
    ctx.fillStyle = "#f2a541";
    ctx.strokeStyle = "#1b1b1b";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(px, py, Math.min(cw, ch) * 0.38, 0, Math.PI * 2); ctx.fill(); ctx.stroke();
    pad.dataset.x = String(page.puck.x);
    pad.dataset.y = String(page.puck.y);
    pad.dataset.path = String(page.path.length);
  }

  function drawBeat(playhead) {
    const beat = current();
    if (!beat) return;
    drawRoll($("#beat"), [beat], { drums: true, playhead });
    $("#beat").dataset.index = String(page.puck.y * size + page.puck.x);
  }

  function movePuck(x, y) {
    x = Math.max(0, Math.min(size - 1, x)); y = Math.max(0, Math.min(size - 1, y));
    if (x === page.puck.x && y === page.puck.y) return false;
    page.puck = { x, y };
    drawPad();
    drawBeat();
    return true;
  }
  function cellAt(event) {
    const box = pad.getBoundingClientRect();
    return [Math.floor((event.clientX - box.left) / box.width * size), Math.floor((event.clientY - box.top) / box.height * size)];
  }
  let dragging = false, drawing = false;
  pad.addEventListener("pointerdown", (event) => {
    dragging = true;
    drawing = event.shiftKey;
    pad.setPointerCapture(event.pointerId);
    const [x, y] = cellAt(event);
    if (drawing) { page.path = [[x, y]]; page.pathIndex = 0; }
    movePuck(x, y);
    drawPad();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const [x, y] = cellAt(event);
    const moved = movePuck(x, y);
    if (drawing && moved) { page.path.push([page.puck.x, page.puck.y]); drawPad(); }
  });
  pad.addEventListener("pointerup", () => { dragging = false; drawing = false; });
  pad.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key in moves) {
      event.preventDefault();
      movePuck(page.puck.x + moves[event.key][0], page.puck.y + moves[event.key][1]);
    } else if (event.key === " ") {
      event.preventDefault();
      if (player.playing) stop(); else play();
    }
  });
  $("#clear-path").addEventListener("click", () => { page.path = []; drawPad(); });

  // ---------------------------------------------------------------------- playing
  const tempo = $("#tempo");
  tempo.addEventListener("input", () => { $("#tempo-out").value = tempo.value; player.qpm = Number(tempo.value); });
  function play() {
    if (!page.palette) return;
    player.start({
      qpm: Number(tempo.value), length: 32, loop: true,
      notesAt: (step) => {
        if (step === 0 && page.path.length > 1) { // the path: one loop per cell
          const [x, y] = page.path[page.pathIndex % page.path.length];
          page.pathIndex += 1;
          movePuck(x, y);
        }
        const beat = current();
        return beat ? beat.notes.filter((n) => n.start === step) : [];
      },
      onStep: (step) => { pad.dataset.step = String(step); drawBeat(step); },
    });
  }
  function stop() { player.stop(); drawBeat(); }
  $("#play").addEventListener("click", play);
  $("#stop").addEventListener("click", stop);
  $("#generate").addEventListener("click", generate);

  $("#export").addEventListener("click", async () => {
    if (!page.palette) return;
    const beats = page.path.length > 1 ? page.path.map(([x, y]) => page.palette.melodies[y * size + x]) : [current()];
    try {
      const blob = await apiBlob("/api/export", { melodies: beats, qpm: Number(tempo.value) });
      const notes = beats.reduce((sum, m) => sum + m.notes.length, 0);
      page.exported = { bytes: blob.size, notes, beats: beats.length, blob };
      Studio.download(blob, "beat-blender.mid");
      status(`Exported ${beats.length} beat${beats.length === 1 ? "" : "s"} (${notes} hits) as MIDI.`);
    } catch (err) { fail(err); }
  });

  // Web MIDI out, where the browser offers it (drums go to channel 10).
  if (navigator.requestMIDIAccess) {
    navigator.requestMIDIAccess().then((access) => {
      const outputs = [...access.outputs.values()];
      if (!outputs.length) return;
      const select = $("#midi-out");
      select.replaceChildren(el("option", { value: "", text: "none" }), ...outputs.map((o) => el("option", { value: o.id, text: o.name })));
      select.addEventListener("change", () => { player.midiOut = outputs.find((o) => o.id === select.value) || null; });
      $("#midi-label").classList.remove("hidden");
    }).catch(() => { /* no permission: no MIDI out */ });
  }

  window.addEventListener("resize", () => { drawCorners(); drawPad(); drawBeat(); });
  page.puck = { x: 0, y: 0 };
  await generate();
  document.body.dataset.ready = "true";
})();
