// Melody Mixer: two melodies, a steps slider, the morph as a piano roll, play, export.
"use strict";
(async () => {
  const { $, el, state, api, apiBlob, status, fail, drawRoll } = Studio;
  const player = new Studio.Player();
  const page = { a: null, b: null, morph: null, request: 0, lastKey: null, exported: null };
  state.mixer = page;

  try { await Studio.boot(); } catch (err) { fail(err); return; }
  const usable = Studio.modelPicker((m) => m.family === "musicvae" && m.representation === "melody", () => morph());
  const controls = ["#steps", "#play", "#stop", "#export", "#render", "#preset-a", "#preset-b", "#file-a", "#file-b", "#qpm"];
  if (!usable.length) {
    const notice = $("#no-model");
    notice.textContent = "No melody model is loaded. Start the studio with a MusicVAE melody model: "
      + "latentmusic studio --models cat-mel_2bar_small (shipped) or --models RUN (one you trained).";
    notice.classList.remove("hidden");
    for (const c of controls) $(c).disabled = true;
    status("No melody model.", true);
    return;
  }

  const slider = $("#steps");
  slider.max = String(Math.min(16, state.limits.max_steps));
  slider.min = String(state.limits.min_steps);

  // ------------------------------------------------------------------ the two melodies
  function fillPresets(which, index) {
    const select = $(`#preset-${which}`);
    select.replaceChildren(...state.presets.melodies.map((p, i) => el("option", { value: String(i), text: p.name })));
    select.value = String(index);
    page[which] = state.presets.melodies[index].melody;
    select.addEventListener("change", () => {
      if (select.value === "upload") return;
      page[which] = state.presets.melodies[Number(select.value)].melody;
      for (const opt of [...select.options]) if (opt.value === "upload") opt.remove();
      drawInputs();
      morph();
    });
    $(`#file-${which}`).addEventListener("change", async (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (!file) return;
      status(`Reading ${file.name}…`);
      try {
        const result = await Studio.uploadMidi(file, $("#model").value);
        page[which] = result.melody;
        for (const opt of [...select.options]) if (opt.value === "upload") opt.remove();
        select.append(el("option", { value: "upload", text: `Uploaded: ${file.name}` }));
        select.value = "upload";
        drawInputs();
        morph();
      } catch (err) { fail(err); }
    });
  }
  function drawInputs() {
    drawRoll($("#roll-a"), [page.a], { color: "#e4572e" });
    drawRoll($("#roll-b"), [page.b], { color: "#17bebb" });
  }
  fillPresets("a", 0);
  fillPresets("b", 1);
  drawInputs();

  // ------------------------------------------------------------------------ the morph
  const noteCount = (melodies) => melodies.reduce((sum, m) => sum + m.notes.length, 0);
  function drawMorph(playhead) {
    if (!page.morph) return;
    drawRoll($("#morph"), page.morph.melodies, { labels: true, playhead });
  }

  async function morph() {
    const steps = Number(slider.value);
    const model = $("#model").value;
    const id = ++page.request;
    const started = performance.now();
    status(`Morphing in ${steps} steps…`);
    const said = Studio.statusSerial();
    try {
      const result = await api(`/api/models/${encodeURIComponent(model)}/interpolate`, { melodies: [page.a, page.b], steps });
      if (id !== page.request) return; // a newer request is on its way
      const wasPlaying = player.playing;
      player.stop();
      page.morph = result;
      page.exported = null;
      drawMorph();
      const ms = Math.round(performance.now() - started);
      if (Studio.statusSerial() === said) { // nothing newer (an upload's error) was said meanwhile
        status(`${result.melodies.length} melodies · ${noteCount(result.melodies)} notes · ${ms} ms`);
      }
      $("#morph").dataset.steps = String(steps);
      if (wasPlaying) play();
    } catch (err) { if (id === page.request) fail(err); }
  }

  let debounce = null;
  slider.addEventListener("input", () => {
    $("#steps-out").value = slider.value;
    clearTimeout(debounce);
    debounce = setTimeout(morph, 250);
  });
  slider.addEventListener("change", () => { clearTimeout(debounce); morph(); });

  // ------------------------------------------------------------------- play and export
  function play() {
    if (!page.morph) return;
    const seq = Studio.sequenceOf(page.morph.melodies);
    player.start({
      qpm: Number($("#qpm").value) || 120,
      length: seq.length,
      notesAt: seq.notesAt,
      onStep: (step) => { $("#morph").dataset.playhead = String(step); drawMorph(step); },
      onEnd: () => { drawMorph(); status("Played the whole morph."); },
    });
    $("#morph").dataset.playing = "true";
  }
  function stop() {
    player.stop();
    $("#morph").dataset.playing = "false";
    drawMorph();
  }
  $("#play").addEventListener("click", play);
  $("#stop").addEventListener("click", stop);
  $("#qpm").addEventListener("change", () => { player.qpm = Number($("#qpm").value) || 120; });
  document.addEventListener("keydown", (event) => {
    if (event.code !== "Space" || ["INPUT", "SELECT", "BUTTON", "TEXTAREA"].includes(document.activeElement.tagName) && document.activeElement !== slider) return;
    event.preventDefault();
    if (player.playing) stop(); else play();
  });

  $("#export").addEventListener("click", async () => {
    if (!page.morph) return;
    try {
      const blob = await apiBlob("/api/export", { melodies: page.morph.melodies, qpm: Number($("#qpm").value) || 120 });
      page.exported = { bytes: blob.size, notes: noteCount(page.morph.melodies), blob };
      Studio.download(blob, `melody-morph-${page.morph.melodies.length}.mid`);
      status(`Exported ${page.morph.melodies.length} melodies (${noteCount(page.morph.melodies)} notes) as MIDI.`);
    } catch (err) { fail(err); }
  });

  $("#render").addEventListener("click", async () => {
    if (!page.morph) return;
    status("Rendering with FluidSynth…");
    try {
      const blob = await apiBlob("/api/render", { melodies: page.morph.melodies, qpm: Number($("#qpm").value) || 120 });
      const audio = $("#wav");
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(blob);
      audio.classList.remove("hidden");
      audio.addEventListener("loadedmetadata", () => {
        page.wavSeconds = audio.duration;
        status(`Rendered ${audio.duration.toFixed(1)} s of audio.`);
      }, { once: true });
      audio.play().catch(() => { /* autoplay refused: the controls are there */ });
    } catch (err) { fail(err); }
  });

  window.addEventListener("resize", () => { drawInputs(); drawMorph(); });
  await morph();
  document.body.dataset.ready = "true";
})();
