// latentmusic studio: what every page shares. Plain JavaScript, no build step, no network
// beyond this server. Pages read and write `Studio.state`, which the browser tests inspect.
"use strict";

const Studio = (() => {
  const state = { responses: {}, errors: [], models: [], presets: null, limits: null };

  // ------------------------------------------------------------------------------ API
  // fetch with the studio's error convention: a refusal is {"error": "one sentence"}, thrown
  // as an Error carrying that sentence and the status (and kept in state.errors for tests).
  async function send(path, init = {}) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new Error("The studio server does not answer (is `latentmusic studio` still running?).");
    }
    if (!response.ok) {
      let message = `The server answered ${response.status}.`;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      state.errors.push({ path, status: response.status, message });
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  async function request(path, body, { raw = null, contentType = "application/json", expect = "json" } = {}) {
    const init = body === undefined && raw === null
      ? { method: "GET" }
      : { method: "POST", headers: { "Content-Type": contentType }, body: raw !== null ? raw : JSON.stringify(body) };
    const response = await send(path, init);
    if (expect === "blob") {
      const blob = await response.blob();
      state.responses[path] = { status: response.status, bytes: blob.size, headers: Object.fromEntries(response.headers) };
      return blob;
    }
    const json = await response.json();
    state.responses[path] = { status: response.status, json };
    return json;
  }
  const api = (path, body) => request(path, body);
  const apiBlob = (path, body) => request(path, body, { expect: "blob" });

  async function uploadMidi(file, model) {
    const buffer = await file.arrayBuffer();
    const query = model ? `?model=${encodeURIComponent(model)}` : "";
    return request(`/api/midi${query}`, undefined, { raw: buffer, contentType: "audio/midi" });
  }

  async function uploadWav(file) {
    const buffer = await file.arrayBuffer();
    return request(`/api/nsynth/upload?name=${encodeURIComponent(file.name.slice(0, 200))}`, undefined, { raw: buffer, contentType: "audio/wav" });
  }

  // ------------------------------------------------------------------------ page bits
  function $(selector, root = document) { return root.querySelector(selector); }
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) node.append(child);
    return node;
  }
  // Every message gets a number: a slow request's result can tell whether something (an
  // error, say) was said after it started, and then leave that message standing.
  let statusCount = 0;
  const statusSerial = () => statusCount;
  function status(text, isError = false) {
    statusCount += 1;
    const node = $("#status");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("error", isError);
    node.dataset.kind = isError ? "error" : "ok";
  }
  function fail(err) { status(err.message || String(err), true); }

  function download(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function boot() {
    const [models, presets, limits] = await Promise.all([api("/api/models"), api("/api/presets"), api("/api/limits")]);
    state.models = models.models;
    state.notes = models.notes;
    state.presets = presets;
    state.limits = limits;
    return state;
  }

  // Fill the header's model picker with the models a page can use; remember the choice.
  function modelPicker(filter, onChange, label = (m) => `${m.name} (${m.representation}, ${m.bars} bars)`) {
    const select = $("#model");
    const usable = state.models.filter(filter);
    select.replaceChildren(...usable.map((m) => el("option", { value: m.name, text: label(m) })));
    const saved = localStorage.getItem(`studio.model.${document.body.dataset.page}`);
    if (usable.some((m) => m.name === saved)) select.value = saved;
    select.disabled = usable.length === 0;
    select.addEventListener("change", () => {
      localStorage.setItem(`studio.model.${document.body.dataset.page}`, select.value);
      if (onChange) onChange(select.value);
    });
    return usable;
  }
  const currentModel = () => state.models.find((m) => m.name === $("#model").value) || null;

  // ---------------------------------------------------------------------- piano roll
  const DRUM_ROWS = { 36: 0, 35: 0, 38: 1, 40: 1, 37: 1, 42: 2, 44: 2, 46: 3, 45: 4, 41: 4, 43: 4, 48: 5, 47: 5, 50: 6, 49: 7, 57: 7, 51: 8, 59: 8 };
  const DRUM_NAMES = ["kick", "snare", "hi-hat", "open hat", "low tom", "mid tom", "high tom", "crash", "ride"];
  const drumRow = (pitch) => (pitch in DRUM_ROWS ? DRUM_ROWS[pitch] : 2);

  function mix(a, b, t) {
    const pa = [parseInt(a.slice(1, 3), 16), parseInt(a.slice(3, 5), 16), parseInt(a.slice(5, 7), 16)];
    const pb = [parseInt(b.slice(1, 3), 16), parseInt(b.slice(3, 5), 16), parseInt(b.slice(5, 7), 16)];
    return `rgb(${pa.map((v, i) => Math.round(v + (pb[i] - v) * t)).join(",")})`;
  }

  // Draw melodies side by side (each `total_steps` wide) on a canvas sized to its CSS box.
  // Options: colors [from, to] (a gradient across the melodies), playhead (global step),
  // range [low, high] pitch, labels (bool), drums (bool: rows are drum types).
  function drawRoll(canvas, melodies, opts = {}) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, canvas.clientWidth), height = Math.max(1, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const lengths = melodies.map((m) => Math.max(m.total_steps || 0, 16));
    const total = lengths.reduce((a, b) => a + b, 0) || 32;
    const notes = melodies.flatMap((m) => m.notes);
    const drums = opts.drums ?? (notes.length > 0 && notes.every((n) => n.drum));
    let low, high;
    if (drums) { low = 0; high = 8; }
    else if (opts.range) { [low, high] = opts.range; }
    else {
      const pitches = notes.map((n) => n.pitch);
      low = pitches.length ? Math.min(...pitches) - 2 : 55;
      high = pitches.length ? Math.max(...pitches) + 2 : 79;
      if (high - low < 14) { const mid = (high + low) / 2; low = Math.floor(mid - 7); high = Math.ceil(mid + 7); }
    }
    const rows = high - low + 1;
    const sx = width / total, sy = height / rows;
    const [from, to] = opts.colors || ["#e4572e", "#17bebb"];
    let x0 = 0;
    melodies.forEach((melody, i) => {
      const w = lengths[i] * sx;
      if (i % 2 === 1) { ctx.fillStyle = "rgba(255,255,255,0.035)"; ctx.fillRect(x0, 0, w, height); }
      ctx.strokeStyle = "rgba(255,255,255,0.06)";
      for (let s = 4; s < lengths[i]; s += 4) {
        ctx.beginPath(); ctx.moveTo(x0 + s * sx + 0.5, 0); ctx.lineTo(x0 + s * sx + 0.5, height); ctx.stroke();
      }
      const color = melodies.length > 1 ? mix(from, to, i / (melodies.length - 1)) : (opts.color || from);
      ctx.fillStyle = color;
      for (const n of melody.notes) {
        const row = drums ? drumRow(n.pitch) : n.pitch - low;
        if (row < 0 || row >= rows) continue;
        const y = height - (row + 1) * sy;
        const len = drums ? 1 : n.end - n.start;
        ctx.fillRect(x0 + n.start * sx + 0.5, y + 0.5, Math.max(1.5, len * sx - 1), Math.max(1.5, sy - 1));
      }
      if (i > 0) {
        ctx.fillStyle = "rgba(255,255,255,0.25)";
        ctx.fillRect(x0, 0, 1, height);
      }
      if (opts.labels && melodies.length > 1 && w > 18) {
        ctx.fillStyle = "rgba(255,255,255,0.55)";
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(String(i + 1), x0 + 4, 13);
      }
      x0 += w;
    });
    if (opts.playhead !== undefined && opts.playhead !== null && opts.playhead >= 0) {
      ctx.fillStyle = "rgba(242,165,65,0.9)";
      ctx.fillRect(opts.playhead * sx, 0, Math.max(2, sx), height);
    }
    canvas.dataset.melodies = String(melodies.length);
    canvas.dataset.notes = String(notes.length);
  }

  // --------------------------------------------------------------------------- sound
  // A small built-in synth: a two-oscillator voice for pitched notes, synthetic drums.
  // Notes are scheduled a little ahead of time from a timer (the Web Audio clock keeps them
  // exact), so a pattern can change while it plays (Beat Blender's puck).
  class Player {
    constructor() { this.ctx = null; this.timer = null; this.step = -1; this.noise = null; }

    ensure() {
      if (!this.ctx) {
        const Context = window.AudioContext || window.webkitAudioContext;
        this.ctx = new Context();
        this.master = this.ctx.createGain();
        this.master.gain.value = 0.35;
        this.master.connect(this.ctx.destination);
        const length = this.ctx.sampleRate;
        this.noise = this.ctx.createBuffer(1, length, this.ctx.sampleRate);
        const data = this.noise.getChannelData(0);
        for (let i = 0; i < length; i++) data[i] = Math.random() * 2 - 1;
      }
      if (this.ctx.state === "suspended") this.ctx.resume();
      return this.ctx;
    }

    get playing() { return this.timer !== null; }

    // notesAt(step) -> notes starting at that step ({pitch, end-start duration, velocity, drum}).
    start({ qpm = 120, length, notesAt, loop = false, onStep = null, onEnd = null }) {
      this.stop();
      const ctx = this.ensure();
      this.qpm = qpm;
      const secondsPerStep = () => 60 / this.qpm / 4;
      let next = 0;
      let when = ctx.currentTime + 0.08;
      const startedAt = when;
      const visual = [];
      const tick = () => {
        const horizon = ctx.currentTime + 0.12;
        while (when < horizon) {
          const total = typeof length === "function" ? length() : length;
          if (next >= total) {
            if (!loop) break;
            next = 0;
          }
          for (const note of notesAt(next)) this.voice(note, when, secondsPerStep());
          visual.push([when, next]);
          when += secondsPerStep();
          next += 1;
        }
        while (visual.length && visual[0][0] <= ctx.currentTime) {
          this.step = visual.shift()[1];
          if (onStep) onStep(this.step);
        }
        const total = typeof length === "function" ? length() : length;
        if (!loop && next >= total && !visual.length && ctx.currentTime >= when) {
          this.stop();
          if (onEnd) onEnd();
        }
      };
      this.startedAt = startedAt;
      this.timer = setInterval(tick, 25);
      tick();
    }

    stop() {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      this.step = -1;
      if (this.ctx && this.voices) for (const v of this.voices) { try { v.stop(); } catch (_) { /* ended */ } }
      this.voices = [];
    }

    voice(note, when, stepSeconds) {
      const ctx = this.ctx;
      this.voices = (this.voices || []).filter((v) => v.endsAt > ctx.currentTime);
      const velocity = (note.velocity || 80) / 127;
      if (this.midiOut) { // Web MIDI out, where the browser has it and the user picked a port
        const at = performance.now() + (when - ctx.currentTime) * 1000;
        const channel = note.drum ? 9 : 0;
        const ms = note.drum ? 100 : Math.max(1, note.end - note.start) * stepSeconds * 1000;
        try {
          this.midiOut.send([0x90 | channel, note.pitch, Math.round(velocity * 127)], at);
          this.midiOut.send([0x80 | channel, note.pitch, 0], at + ms);
        } catch (_) { /* the port went away */ }
      }
      if (note.drum) return this.drum(note.pitch, when, velocity);
      const duration = Math.max(1, note.end - note.start) * stepSeconds;
      const freq = 440 * Math.pow(2, (note.pitch - 69) / 12);
      const gain = ctx.createGain();
      const filter = ctx.createBiquadFilter();
      filter.type = "lowpass";
      filter.frequency.value = Math.min(8000, freq * 6);
      gain.gain.setValueAtTime(0.0001, when);
      gain.gain.exponentialRampToValueAtTime(0.5 * velocity, when + 0.008);
      gain.gain.exponentialRampToValueAtTime(0.28 * velocity, when + 0.12);
      gain.gain.setValueAtTime(0.28 * velocity, when + duration);
      gain.gain.exponentialRampToValueAtTime(0.0001, when + duration + 0.12);
      filter.connect(gain).connect(this.master);
      for (const [type, detune, level] of [["triangle", 0, 1], ["sawtooth", 7, 0.18]]) {
        const osc = ctx.createOscillator();
        const mixGain = ctx.createGain();
        osc.type = type;
        osc.frequency.value = freq;
        osc.detune.value = detune;
        mixGain.gain.value = level;
        osc.connect(mixGain).connect(filter);
        osc.start(when);
        osc.stop(when + duration + 0.15);
        osc.endsAt = when + duration + 0.15;
        this.voices.push(osc);
      }
    }

    drum(pitch, when, velocity) {
      const ctx = this.ctx;
      const row = drumRow(pitch);
      const gain = ctx.createGain();
      gain.connect(this.master);
      if (row === 0 || row >= 4 && row <= 6) { // kick and toms: a falling sine
        const osc = ctx.createOscillator();
        const base = row === 0 ? 50 : [0, 0, 0, 0, 90, 130, 180][row];
        osc.frequency.setValueAtTime(base * 3, when);
        osc.frequency.exponentialRampToValueAtTime(base, when + 0.08);
        gain.gain.setValueAtTime(velocity, when);
        gain.gain.exponentialRampToValueAtTime(0.0001, when + 0.35);
        osc.connect(gain);
        osc.start(when);
        osc.stop(when + 0.4);
        osc.endsAt = when + 0.4;
        this.voices.push(osc);
        return;
      }
      const source = ctx.createBufferSource();
      source.buffer = this.noise;
      const filter = ctx.createBiquadFilter();
      const decay = { 1: 0.18, 2: 0.05, 3: 0.3, 7: 0.9, 8: 0.4 }[row] || 0.1;
      filter.type = row === 1 ? "bandpass" : "highpass";
      filter.frequency.value = row === 1 ? 1800 : 7000;
      gain.gain.setValueAtTime(velocity * (row === 1 ? 0.9 : 0.45), when);
      gain.gain.exponentialRampToValueAtTime(0.0001, when + decay);
      source.connect(filter).connect(gain);
      source.start(when);
      source.stop(when + decay + 0.05);
      source.endsAt = when + decay + 0.05;
      this.voices.push(source);
    }
  }

  // Index melodies laid end to end by global step: notesAt(step) for the player.
  function sequenceOf(melodies) {
    const starts = new Map();
    let offset = 0;
    for (const m of melodies) {
      for (const n of m.notes) {
        const at = offset + n.start;
        if (!starts.has(at)) starts.set(at, []);
        starts.get(at).push(n);
      }
      offset += Math.max(m.total_steps || 0, 16);
    }
    return { length: offset, notesAt: (step) => starts.get(step) || [] };
  }

  // ------------------------------------------------------------------------- scales
  const NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
  const SCALES = {
    major: [0, 2, 4, 5, 7, 9, 11],
    minor: [0, 2, 3, 5, 7, 8, 10],
    dorian: [0, 2, 3, 5, 7, 9, 10],
    mixolydian: [0, 2, 4, 5, 7, 9, 10],
    "major pentatonic": [0, 2, 4, 7, 9],
    "minor pentatonic": [0, 3, 5, 7, 10],
    blues: [0, 3, 5, 6, 7, 10],
    chromatic: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  };
  const pitchName = (p) => `${NOTE_NAMES[p % 12]}${Math.floor(p / 12) - 1}`;
  function inScale(pitch, tonic, scale) { return SCALES[scale].includes(((pitch - tonic) % 12 + 12) % 12); }
  // The nearest pitch of the scale (ties go down).
  function snap(pitch, tonic, scale) {
    for (let d = 0; d < 12; d++) {
      if (inScale(pitch - d, tonic, scale)) return pitch - d;
      if (inScale(pitch + d, tonic, scale)) return pitch + d;
    }
    return pitch;
  }
  function snapMelody(melody, tonic, scale) {
    return { ...melody, notes: melody.notes.map((n) => (n.drum ? n : { ...n, pitch: snap(n.pitch, tonic, scale) })) };
  }

  return {
    state, send, api, apiBlob, uploadMidi, uploadWav, $, el, status, statusSerial, fail, download, boot, modelPicker, currentModel,
    drawRoll, Player, sequenceOf, NOTE_NAMES, SCALES, DRUM_NAMES, pitchName, inScale, snap, snapMelody,
  };
})();
window.Studio = Studio;
