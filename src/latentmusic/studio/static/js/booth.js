// Translation booth: upload a recording, tick target instruments, and hear each translation
// while the server makes it (the samples written so far are fetched and scheduled gaplessly
// in Web Audio); each finished translation gets an <audio> player and a WAV download.
"use strict";
(async () => {
  const { $, el, state, status, fail } = Studio;
  const page = {
    recording: null, // the server's answer for the uploaded recording
    uploads: [], // every recording uploaded from this page, in order
    job: null, // the latest progress answer of the current job
    jobs: [], // ids of every job started from this page
    polls: 0, // progress answers received
    live: null, // the target playing as it streams: {domain, next, total, chunks, samples, ...}
    results: {}, // domain -> {duration, samples} of finished translations (from the players)
  };
  state.booth = page;
  const ACTIVE = ["queued", "running"];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  try { await Studio.boot(); } catch (err) { fail(err); return; }
  const limits = state.limits;
  const usable = Studio.modelPicker((m) => m.family === "translation", () => buildTargets(),
    (m) => `${m.name} (${m.decoder} decoders, ${m.domains.length} instruments${m.shipped ? ", shipped" : ""})`);
  const maxMB = Math.round(limits.booth_max_upload_bytes / 1048576);
  $("#drop-hint").textContent = `or drop an audio file on this panel (WAV, FLAC, OGG or MP3; at most ${maxMB} MB and ${Math.round(limits.booth_max_seconds / 60)} minutes).`;

  if (!usable.length) {
    const notice = $("#no-model");
    notice.textContent = (state.notes && state.notes.translation) || "No translation model is served.";
    notice.classList.remove("hidden");
    for (const c of ["#translate", "#cancel", "#all", "#none", "#file"]) $(c).disabled = true;
    $("#pick").setAttribute("aria-disabled", "true");
    $("#pick").tabIndex = -1;
    document.body.dataset.ready = "true";
    return;
  }

  // ------------------------------------------------------------------------- requests
  const call = Studio.send;  // fetch; a refusal throws its one sentence
  const model = () => $("#model").value;
  const seconds = (s) => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`);

  // ------------------------------------------------------------------------ recording
  let sourceUrl = null;
  async function upload(file) {
    if (!file) return;
    if (file.size > limits.booth_max_upload_bytes) {
      status(`${file.name} is ${(file.size / 1048576).toFixed(0)} MB; the translation booth takes files of at most ${maxMB} MB.`, true);
      return;
    }
    status(`Uploading and checking ${file.name} (${(file.size / 1048576).toFixed(1)} MB)…`);
    $("#pick").setAttribute("aria-busy", "true");
    try {
      const response = await call(`/api/booth/upload?name=${encodeURIComponent(file.name.slice(0, 200))}`, {
        method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
      });
      const info = await response.json();
      page.recording = info;
      page.uploads.push(info);
      if (sourceUrl) URL.revokeObjectURL(sourceUrl);
      sourceUrl = URL.createObjectURL(file);
      const source = $("#source");
      source.src = sourceUrl;
      source.classList.remove("hidden");
      const channels = info.channels === 1 ? "mono" : `${info.channels} channels (mixed to mono)`;
      const text = `${file.name}: ${seconds(info.seconds)} at ${info.sample_rate} Hz, ${channels}, ${info.format}.`;
      $("#recording-info").textContent = text;
      $("#drop").dataset.recording = info.id;
      status("Tick the instruments to hear it played by, then press Translate.");
    } catch (err) {
      fail(err);
    } finally {
      $("#pick").removeAttribute("aria-busy");
      $("#file").value = "";
      updateButtons();
    }
  }
  $("#file").addEventListener("change", () => upload($("#file").files && $("#file").files[0]));
  $("#pick").addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("#file").click(); }
  });
  // Drop anywhere on the recording panel; a file dropped elsewhere must not navigate away.
  const drop = $("#drop");
  const over = (on) => { drop.style.borderColor = on ? "var(--accent)" : ""; }; // CSSOM: the CSP allows no inline styles
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); over(true); });
  }
  drop.addEventListener("dragleave", () => over(false));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    over(false);
    const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) upload(file);
  });
  for (const name of ["dragover", "drop"]) document.addEventListener(name, (event) => event.preventDefault());

  // -------------------------------------------------------------------------- targets
  function buildTargets() {
    const current = Studio.currentModel();
    const domains = current ? current.domains : [];
    $("#targets").replaceChildren(...domains.map((domain, i) => {
      const box = el("input", { type: "checkbox", id: `target-${i}`, value: domain, "data-domain": domain });
      box.checked = i === 0;
      box.addEventListener("change", updateButtons);
      return el("label", { for: `target-${i}`, class: "target" }, box, ` ${domain}`);
    }));
    updateButtons();
  }
  const chosen = () => [...document.querySelectorAll("#targets input:checked")].map((box) => box.value);
  const running = () => page.job !== null && ACTIVE.includes(page.job.state);
  function updateButtons() {
    $("#translate").disabled = !page.recording || chosen().length === 0 || running();
    $("#cancel").disabled = !running();
    $("#model").disabled = running() || usable.length < 2;
  }
  function tickAll(on) {
    document.querySelectorAll("#targets input").forEach((box) => { box.checked = on; });
    updateButtons();
  }
  $("#all").addEventListener("click", () => tickAll(true));
  $("#none").addEventListener("click", () => tickAll(false));
  buildTargets();

  // ------------------------------------------------------------------------ translate
  const cards = new Map(); // domain -> {card, bar, text, live, audio, link}
  function buildResults(job) {
    cards.clear();
    page.results = {};
    $("#results").replaceChildren(...job.targets.map((target) => {
      const bar = el("progress", { max: "1", value: "0", "aria-label": `${target.domain}: progress` });
      bar.style.width = "100%";
      const text = el("span", { class: "status", text: "waiting for the model…" });
      const live = el("button", { class: "live", "aria-pressed": "false", text: "Listen live", onclick: () => toggleLive(target.domain) });
      const audio = el("audio", { controls: true, preload: "auto", class: "hidden", "aria-label": `The translation into ${target.domain}` });
      audio.style.width = "100%";
      const link = el("a", { class: "download hidden", href: target.wav, download: target.filename, text: "Download WAV" });
      const card = el("div", { class: "corner", "data-domain": target.domain, "data-state": job.state },
        el("span", { class: "name", text: target.domain }), bar, text, el("div", { class: "row" }, live, link), audio);
      audio.addEventListener("loadedmetadata", () => {
        page.results[target.domain] = { duration: audio.duration, src: audio.getAttribute("src") };
        card.dataset.duration = String(audio.duration);
      });
      audio.addEventListener("play", () => stopLive());
      cards.set(target.domain, { card, bar, text, live, audio, link });
      return card;
    }));
  }

  function showProgress(job) {
    for (const target of job.targets) {
      const parts = cards.get(target.domain);
      if (!parts) continue;
      parts.bar.value = target.progress;
      parts.card.dataset.state = job.state;
      parts.card.dataset.samples = String(target.samples);
      const pct = `${Math.floor(100 * target.progress)}%`;
      if (job.state === "queued") parts.text.textContent = "waiting for the model…";
      else if (job.state === "running") {
        parts.text.textContent = job.eta_seconds === null ? `${pct} · starting…` : `${pct} · about ${seconds(job.eta_seconds)} left`;
      } else if (job.state === "done") parts.text.textContent = `done: ${seconds(job.seconds)} at ${job.sample_rate} Hz`;
      else parts.text.textContent = job.state;
    }
    if (job.state === "running") {
      const speed = job.speed ? ` (${job.speed}× real time)` : "";
      const left = job.eta_seconds === null ? "" : `, about ${seconds(job.eta_seconds)} left`;
      status(`Translating ${job.label} into ${job.targets.length} instrument(s): ${Math.floor(100 * job.progress)}%${speed}${left}.`);
    } else if (job.state === "queued") {
      status(`Waiting for model ${job.model} (another translation is using it)…`);
    }
  }

  function finish(job) {
    if (job.state === "done") {
      for (const target of job.targets) {
        const parts = cards.get(target.domain);
        if (!parts) continue;
        parts.audio.src = target.wav;
        parts.audio.classList.remove("hidden");
        parts.link.classList.remove("hidden");
      }
      const speed = job.speed ? `, ${job.speed}× real time` : "";
      status(`Done: ${job.targets.length} translation(s) of ${job.label} (${seconds(job.seconds)} at ${job.sample_rate} Hz) in ${seconds(job.elapsed_seconds)}${speed}.`);
    } else {
      stopLive();
      for (const parts of cards.values()) { parts.live.disabled = true; parts.bar.value = 0; }
      status(job.error || `The translation ${job.state}.`, job.state === "failed");
    }
  }

  async function poll(id) {
    while (page.job && page.job.job === id) {
      let job;
      try {
        job = await (await call(`/api/booth/jobs/${id}`)).json();
      } catch (err) { fail(err); break; }
      if (!page.job || page.job.job !== id) break; // another job started meanwhile
      page.job = job;
      page.polls += 1;
      showProgress(job);
      if (!ACTIVE.includes(job.state)) { finish(job); break; }
      await sleep(300);
    }
    updateButtons();
  }

  async function translate() {
    const targets = chosen();
    if (!page.recording) { status("Choose a recording first.", true); return; }
    if (!targets.length) { status("Tick at least one instrument to translate into.", true); return; }
    stopLive();
    audioContext(); // created inside the click: browsers let a page play sound only after a gesture
    try {
      const response = await call(`/api/models/${encodeURIComponent(model())}/translate`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ recording: page.recording.id, targets }),
      });
      const job = await response.json();
      page.job = job;
      page.jobs.push(job.job);
      buildResults(job);
      showProgress(job);
      updateButtons();
      startLive(job.targets[0].domain); // the first instrument plays as it streams
      poll(job.job);
    } catch (err) { fail(err); updateButtons(); }
  }
  $("#translate").addEventListener("click", translate);

  $("#cancel").addEventListener("click", async () => {
    if (!running()) return;
    stopLive();
    try {
      const job = await (await call(`/api/booth/jobs/${page.job.job}`, { method: "DELETE" })).json();
      page.job = job;
      finish(job);
    } catch (err) { fail(err); }
    updateButtons();
  });

  // --------------------------------------------------------------- live playback
  let ctx = null;
  function audioContext() {
    if (!ctx) {
      const Context = window.AudioContext || window.webkitAudioContext;
      ctx = new Context();
    }
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }

  function markLive(domain, on) {
    const parts = cards.get(domain);
    if (!parts) return;
    parts.live.setAttribute("aria-pressed", String(on));
    parts.live.textContent = on ? "Stop" : "Listen live";
    parts.card.dataset.live = String(on);
  }

  function stopLive() {
    const live = page.live;
    if (!live || live.stopped) return;
    live.stopped = true;
    for (const source of live.sources) { try { source.stop(); } catch (_) { /* ended */ } }
    markLive(live.domain, false);
  }

  function toggleLive(domain) {
    if (page.live && !page.live.stopped && page.live.domain === domain) { stopLive(); return; }
    startLive(domain);
  }

  function startLive(domain) {
    stopLive();
    const job = page.job;
    const target = job && job.targets.find((t) => t.domain === domain);
    if (!target) return;
    for (const parts of cards.values()) parts.audio.pause();
    const context = audioContext();
    const live = {
      job: job.job, domain, url: target.live, rate: job.sample_rate, total: job.frames,
      next: 0, at: context.currentTime + 0.3, sources: [], chunks: 0, samples: 0, stopped: false, ended: false,
    };
    page.live = live;
    markLive(domain, true);
    pump(live);
  }

  // Fetch what the server has written since the last answer, schedule it right after the
  // previous piece (gapless while the translation keeps ahead of playback), repeat.
  async function pump(live) {
    while (!live.stopped && live.next < live.total) {
      let response, bytes;
      try {
        response = await call(`${live.url}?start=${live.next}`);
        bytes = await response.arrayBuffer();
      } catch (err) {
        if (!live.stopped) { fail(err); stopLive(); }
        return;
      }
      if (live.stopped) return;
      const n = Number(response.headers.get("X-Samples") || 0);
      if (n > 0) {
        const pcm = new Int16Array(bytes, 44, n); // the live WAV: a 44-byte header, 16-bit mono
        const buffer = ctx.createBuffer(1, n, live.rate);
        const data = buffer.getChannelData(0);
        for (let i = 0; i < n; i++) data[i] = pcm[i] / 32768;
        const source = ctx.createBufferSource();
        source.buffer = buffer;
        source.connect(ctx.destination);
        const when = Math.max(live.at, ctx.currentTime + 0.05);
        source.start(when);
        live.at = when + n / live.rate;
        live.sources.push(source);
        live.next += n;
        live.samples += n;
        live.chunks += 1;
        if (live.next >= live.total) {
          source.addEventListener("ended", () => {
            live.ended = true;
            if (page.live === live && !live.stopped) { live.stopped = true; markLive(live.domain, false); }
          });
        }
      } else {
        await sleep(200);
      }
    }
  }

  updateButtons();
  status("Choose a recording (or drop one on the first panel).");
  document.body.dataset.ready = "true";
})();
