// NSynth pad: four corner instruments, a pitch keyboard, a pad pre-rendered by the server
// once per (corners, pitch, size) and cross-faded here, in Web Audio, as the finger moves.
"use strict";
(async () => {
  const { $, el, state, api, status, fail } = Studio;
  const page = {
    corners: [null, null, null, null], // {preset: NAME} or {upload: ID}
    labels: ["", "", "", ""],
    pitch: 60,
    size: 5,
    pad: null, // the server's answer for the pad shown
    cells: 0, // audio buffers decoded for it
    pos: { x: 0, y: 0 }, // finger position, 0..1 from the top left
    nearest: { row: 0, col: 0 },
    weights: [],
    voices: 0,
    played: [], // every note played: {pitch, key, row, col}
    rendered: [], // every pad answer this page received, in order
    request: 0,
    rainbowgram: null,
  };
  state.pad = page;
  const grids = new Map(); // client cache: key of (model, corners, pitch, size) -> {info, buffers}
  const LOW = 48, HIGH = 72; // the keyboard: C3 to C5

  try { await Studio.boot(); } catch (err) { fail(err); return; }
  const usable = Studio.modelPicker((m) => m.family === "nsynth", () => { grids.clear(); render(); },
    (m) => `${m.name} (NSynth ${m.model_type}${m.shipped ? ", shipped" : ""})`);
  const model = () => encodeURIComponent($("#model").value);
  const limits = state.limits;

  // ---------------------------------------------------------------------- corners
  const CORNER_NAMES = ["top left", "top right", "bottom left", "bottom right"];
  const COLORS = ["#e4572e", "#f2a541", "#9b5de5", "#17bebb"];
  const instruments = state.presets.instruments;
  function buildCorners() {
    $("#corners").replaceChildren(...CORNER_NAMES.map((name, i) => {
      const select = el("select", { "aria-label": `Corner ${name} instrument`, class: "corner-preset" },
        ...instruments.map((p) => el("option", { value: p.name, text: `${p.label} (${p.family})` })));
      select.value = state.presets.instrument_corners[i];
      select.addEventListener("change", () => {
        if (select.value.startsWith("upload:")) page.corners[i] = { upload: select.value.slice(7) };
        else page.corners[i] = { preset: select.value };
        page.labels[i] = select.selectedOptions[0].textContent;
        render();
      });
      const file = el("input", { type: "file", accept: ".wav,audio/wav,audio/x-wav", class: "corner-file", "aria-label": `Upload a WAV for corner ${name}` });
      file.addEventListener("change", () => upload(i, file, select));
      page.corners[i] = { preset: select.value };
      page.labels[i] = select.selectedOptions[0].textContent;
      const title = el("span", { class: "name", text: `${String.fromCharCode(65 + i)} · ${name}` });
      title.style.color = COLORS[i]; // CSSOM, not a style attribute (the CSP allows no inline styles)
      return el("div", { class: "corner", "data-corner": String(i) }, title,
        el("div", { class: "row" }, select,
          el("label", { class: "file-label", text: "Upload WAV" }, file)));
    }));
  }
  async function upload(i, input, select) {
    const file = input.files && input.files[0];
    if (!file) return;
    try {
      const result = await Studio.uploadWav(file);
      const value = `upload:${result.id}`;
      if (![...select.options].some((o) => o.value === value)) {
        select.append(el("option", { value, text: `↑ ${result.label} (${result.seconds} s)` }));
      }
      select.value = value;
      page.corners[i] = { upload: result.id };
      page.labels[i] = result.label;
      status(`Uploaded ${file.name}: ${result.seconds} s at ${result.sample_rate} Hz (the first ${result.used_seconds} s are used).`);
      render();
    } catch (err) { fail(err); } finally { input.value = ""; }
  }
  buildCorners();

  // ---------------------------------------------------------------------- keyboard
  const BLACK = new Set([1, 3, 6, 8, 10]);
  const low = Math.max(LOW, limits.min_pad_pitch), high = Math.min(HIGH, limits.max_pad_pitch);
  $("#keyboard").replaceChildren(...Array.from({ length: high - low + 1 }, (_, k) => {
    const pitch = low + k;
    return el("button", {
      class: `key ${BLACK.has(pitch % 12) ? "black" : "white"}`, "data-pitch": String(pitch),
      "aria-label": `${Studio.pitchName(pitch)} (MIDI ${pitch})`, "aria-pressed": "false",
      text: pitch % 12 === 0 ? Studio.pitchName(pitch) : "",
      onclick: () => choosePitch(pitch, true),
    });
  }));
  function showPitch() {
    document.querySelectorAll("#keyboard .key").forEach((key) => key.setAttribute("aria-pressed", String(Number(key.dataset.pitch) === page.pitch)));
    $("#keyboard").dataset.pitch = String(page.pitch);
  }
  async function choosePitch(pitch, play) {
    page.pitch = pitch;
    showPitch();
    const ok = await render();
    if (ok && play) noteOn(0.6);
  }

  const sizes = [];
  for (let n = limits.min_pad_size; n <= limits.max_pad_size; n++) sizes.push(n);
  $("#size").replaceChildren(...sizes.map((n) => el("option", { value: String(n), text: `${n} × ${n}` })));
  $("#size").value = String(page.size);
  $("#size").addEventListener("change", () => { page.size = Number($("#size").value); render(); });

  if (!usable.length) {
    const notice = $("#no-model");
    notice.textContent = (state.notes && state.notes.nsynth) || "No NSynth model is loaded.";
    notice.classList.remove("hidden");
    for (const c of ["#play", "#stop", "#size"]) $(c).disabled = true;
    document.querySelectorAll("#keyboard .key, .corner select, .corner input").forEach((b) => { b.disabled = true; });
    status("No NSynth model: the pad needs one to render the sounds between the corners.", true);
    showPitch();
    drawPad();
    document.body.dataset.ready = "true";
    return;
  }

  // ---------------------------------------------------------------------- audio
  let ctx = null, master = null;
  function audio() {
    if (!ctx) {
      const Context = window.AudioContext || window.webkitAudioContext;
      ctx = new Context();
      master = ctx.createGain();
      master.gain.value = 0.8;
      master.connect(ctx.destination);
    }
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  const gridKey = () => JSON.stringify([$("#model").value, page.corners, page.pitch, page.size]);

  // Ask the server for the pad (cached there too), fetch its one WAV, cut it into cells.
  async function render() {
    const id = ++page.request;
    const key = gridKey();
    if (grids.has(key)) { show(grids.get(key)); return true; }
    const started = performance.now();
    status(`Rendering the ${page.size} × ${page.size} pad at ${Studio.pitchName(page.pitch)}…`);
    try {
      const info = await api(`/api/models/${model()}/pad`, { corners: page.corners, pitch: page.pitch, size: page.size });
      page.rendered.push(info);
      const response = await fetch(info.audio);
      if (!response.ok) throw new Error(`The pad's audio could not be fetched (${response.status}).`);
      const decoded = await audio().decodeAudioData(await response.arrayBuffer());
      const cells = info.size * info.size;
      const length = Math.floor(decoded.length / cells);
      const data = decoded.getChannelData(0);
      const buffers = [];
      for (let i = 0; i < cells; i++) {
        const buffer = ctx.createBuffer(1, length, decoded.sampleRate);
        buffer.copyToChannel(data.subarray(i * length, (i + 1) * length), 0);
        buffers.push(buffer);
      }
      const grid = { info, buffers, seconds: decoded.duration };
      grids.set(key, grid);
      if (id !== page.request) return false;
      show(grid);
      const ms = Math.round(performance.now() - started);
      status(`${cells} sounds at ${Studio.pitchName(info.pitch)} ${info.cached ? "from the server's cache" : `rendered in ${Math.round(info.render_ms)} ms`}; ready in ${ms} ms.`
        + (info.pitch_applied ? "" : " This model plays uploaded corners at their own pitch."));
      return true;
    } catch (err) { if (id === page.request) fail(err); return false; }
  }
  let grid = null;
  function show(g) {
    grid = g;
    page.pad = g.info;
    page.cells = g.buffers.length;
    page.size = g.info.size;
    $("#pad").dataset.key = g.info.key;
    $("#pad").dataset.cells = String(page.cells);
    moveTo(page.pos.x, page.pos.y, true);
  }

  // Bilinear weights of the (up to) four cells around the finger; they sum to 1.
  function weightsAt(x, y, n) {
    const u = x * (n - 1), v = y * (n - 1);
    const c0 = Math.min(n - 2, Math.floor(u)), r0 = Math.min(n - 2, Math.floor(v));
    const fu = u - c0, fv = v - r0;
    const w = new Array(n * n).fill(0);
    w[r0 * n + c0] = (1 - fu) * (1 - fv);
    w[r0 * n + c0 + 1] = fu * (1 - fv);
    w[(r0 + 1) * n + c0] = (1 - fu) * fv;
    w[(r0 + 1) * n + c0 + 1] = fu * fv;
    return { weights: w, nearest: { row: Math.round(v), col: Math.round(u) } };
  }

  // A voice plays every cell of the pad at once, each through its own gain: moving only
  // changes those gains (a smooth cross-fade, no restart); the envelope is the ADSR.
  const voices = new Set();
  function noteOn(holdFor = null) {
    if (!grid) return null;
    const c = audio();
    const when = c.currentTime + 0.01;
    const env = c.createGain();
    const [a, d, s] = ["attack", "decay", "sustain"].map((k) => Number($(`#${k}`).value));
    env.gain.setValueAtTime(0, when);
    env.gain.linearRampToValueAtTime(1, when + Math.max(0.003, a));
    env.gain.linearRampToValueAtTime(s, when + Math.max(0.003, a) + Math.max(0.003, d));
    env.connect(master);
    const gains = grid.buffers.map((buffer, i) => {
      const source = c.createBufferSource();
      source.buffer = buffer;
      const gain = c.createGain();
      gain.gain.value = page.weights[i] || 0;
      source.connect(gain).connect(env);
      source.start(when);
      return { source, gain };
    });
    const voice = { env, gains, grid, ended: false };
    const end = grid.seconds / grid.buffers.length;
    voice.timer = setTimeout(() => noteOff(voice, 0.05), (end + 0.05) * 1000);
    if (holdFor !== null) voice.hold = setTimeout(() => noteOff(voice), holdFor * 1000);
    voices.add(voice);
    page.voices = voices.size;
    page.played.push({ pitch: grid.info.pitch, key: grid.info.key, row: page.nearest.row, col: page.nearest.col });
    $("#pad").dataset.playing = "true";
    return voice;
  }
  function noteOff(voice, release = null) {
    if (!voice || voice.ended) return;
    voice.ended = true;
    clearTimeout(voice.timer); clearTimeout(voice.hold);
    const r = release ?? Number($("#release").value);
    const now = ctx.currentTime;
    const gain = voice.env.gain;
    if (gain.cancelAndHoldAtTime) gain.cancelAndHoldAtTime(now);
    else { gain.cancelScheduledValues(now); gain.setValueAtTime(gain.value, now); }
    gain.linearRampToValueAtTime(0, now + Math.max(0.01, r));
    for (const { source } of voice.gains) { try { source.stop(now + Math.max(0.01, r) + 0.05); } catch (_) { /* ended */ } }
    voices.delete(voice);
    page.voices = voices.size;
    if (!voices.size) $("#pad").dataset.playing = "false";
  }
  function stopAll() { for (const v of [...voices]) noteOff(v, 0.03); }

  // ---------------------------------------------------------------------- the pad
  const pad = $("#pad");
  function drawPad() {
    const ratio = window.devicePixelRatio || 1;
    const w = pad.clientWidth, h = pad.clientHeight;
    pad.width = Math.round(w * ratio); pad.height = Math.round(h * ratio);
    const g = pad.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const n = page.size, cw = w / n, ch = h / n;
    const rgb = COLORS.map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
    const peaks = page.pad ? page.pad.peaks : null;
    const top = peaks ? Math.max(1e-6, ...peaks.flat()) : 1;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        const x = c / (n - 1), y = r / (n - 1);
        const mixw = [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y];
        const col = [0, 1, 2].map((k) => Math.round(rgb.reduce((sum, color, i) => sum + color[k] * mixw[i], 0)));
        const level = peaks ? 0.25 + 0.6 * Math.sqrt(peaks[r][c] / top) : 0.2;
        g.fillStyle = `rgba(${col.join(",")}, ${level.toFixed(3)})`;
        g.fillRect(c * cw + 1, r * ch + 1, cw - 2, ch - 2);
        if (r === page.nearest.row && c === page.nearest.col) {
          g.strokeStyle = "rgba(255,255,255,0.8)"; g.lineWidth = 2;
          g.strokeRect(c * cw + 2, r * ch + 2, cw - 4, ch - 4);
        }
      }
    }
    g.font = "12px system-ui, sans-serif";
    g.fillStyle = "rgba(255,255,255,0.85)";
    const labels = page.labels.map((l) => l.replace(/ \(.*\)$/, ""));
    g.textBaseline = "top"; g.textAlign = "left"; g.fillText(labels[0], 6, 6);
    g.textAlign = "right"; g.fillText(labels[1], w - 6, 6);
    g.textBaseline = "bottom"; g.textAlign = "left"; g.fillText(labels[2], 6, h - 6);
    g.textAlign = "right"; g.fillText(labels[3], w - 6, h - 6);
    const px = cw / 2 + page.pos.x * (w - cw), py = ch / 2 + page.pos.y * (h - ch);
    g.fillStyle = "#f2f2f2"; g.strokeStyle = "#1b1b1b"; g.lineWidth = 2;
    g.beginPath(); g.arc(px, py, Math.min(cw, ch) * 0.22, 0, Math.PI * 2); g.fill(); g.stroke();
  }

  // Move the finger: new weights for every sounding voice, the nearest cell's rainbowgram.
  function moveTo(x, y, force = false) {
    x = Math.max(0, Math.min(1, x)); y = Math.max(0, Math.min(1, y));
    page.pos = { x, y };
    const { weights, nearest } = weightsAt(x, y, page.size);
    page.weights = weights;
    const changed = nearest.row !== page.nearest.row || nearest.col !== page.nearest.col;
    page.nearest = nearest;
    if (ctx) {
      for (const v of voices) {
        if (v.grid !== grid) continue;
        v.gains.forEach(({ gain }, i) => gain.gain.setTargetAtTime(weights[i] || 0, ctx.currentTime, 0.012));
      }
    }
    pad.dataset.x = x.toFixed(3);
    pad.dataset.y = y.toFixed(3);
    pad.dataset.row = String(nearest.row);
    pad.dataset.col = String(nearest.col);
    drawPad();
    if (changed || force) showRainbowgram();
  }
  let rainbowTimer = null;
  function showRainbowgram() {
    if (!page.pad) return;
    clearTimeout(rainbowTimer);
    rainbowTimer = setTimeout(() => {
      const { row, col } = page.nearest;
      const url = page.pad.rainbowgram.replace("{row}", row).replace("{col}", col);
      const img = $("#rainbowgram");
      if (img.dataset.src === url) return;
      img.dataset.src = url;
      img.onload = () => {
        if (img.dataset.src !== url) return;
        img.dataset.cell = `${row},${col}`;
        img.dataset.key = page.pad.key;
        page.rainbowgram = { row, col, key: page.pad.key, width: img.naturalWidth };
      };
      img.src = url;
      const x = page.size > 1 ? col / (page.size - 1) : 0, y = page.size > 1 ? row / (page.size - 1) : 0;
      $("#cell-caption").textContent = `cell row ${row + 1}, column ${col + 1} (x ${x.toFixed(2)}, y ${y.toFixed(2)}) at ${Studio.pitchName(page.pad.pitch)}: rainbowgram (brightness = loudness, colour = instantaneous frequency)`;
    }, 40);
  }

  function posAt(event) {
    const box = pad.getBoundingClientRect();
    const n = page.size, cw = box.width / n, ch = box.height / n;
    // cell centres map to 0..1, so the corners' cells are the corners' own sounds
    return [(event.clientX - box.left - cw / 2) / (box.width - cw), (event.clientY - box.top - ch / 2) / (box.height - ch)];
  }
  let held = null;
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    pad.focus();
    moveTo(...posAt(event));
    held = noteOn();
  });
  pad.addEventListener("pointermove", (event) => { if (held || event.buttons) moveTo(...posAt(event)); });
  const release = () => { if (held) { noteOff(held); held = null; } };
  pad.addEventListener("pointerup", release);
  pad.addEventListener("pointercancel", release);
  pad.addEventListener("keydown", (event) => {
    const step = 0.25 / Math.max(1, page.size - 1); // a quarter of a cell
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key in moves) {
      event.preventDefault();
      moveTo(page.pos.x + moves[event.key][0], page.pos.y + moves[event.key][1]);
    } else if ((event.key === " " || event.key === "Enter") && !event.repeat) {
      event.preventDefault();
      if (!held) held = noteOn();
    }
  });
  pad.addEventListener("keyup", (event) => { if (event.key === " " || event.key === "Enter") release(); });
  $("#play").addEventListener("click", () => noteOn(1.0));
  $("#stop").addEventListener("click", stopAll);

  for (const k of ["attack", "decay", "sustain", "release"]) {
    const input = $(`#${k}`), out = $(`#${k}-out`);
    const showValue = () => { out.value = k === "sustain" ? Number(input.value).toFixed(2) : `${Number(input.value).toFixed(2)} s`; };
    input.addEventListener("input", showValue);
    showValue();
  }

  window.addEventListener("resize", drawPad);
  showPitch();
  drawPad();
  await render();
  document.body.dataset.ready = "true";
})();
