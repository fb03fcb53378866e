// The home page: the pages and the models this server was started with.
"use strict";
(async () => {
  const { el, $ } = Studio;
  try {
    await Studio.boot();
    const body = $("#models tbody");
    for (const m of Studio.state.models) {
      body.append(el("tr", {},
        el("td", { text: m.name + (m.shipped ? " (shipped)" : "") }), el("td", { text: m.family }),
        el("td", { text: m.representation || "" }), el("td", { text: m.bars ?? "" }),
        el("td", { text: m.z_size ?? "" }), el("td", { text: (m.attributes || []).join(", ") || "none" })));
    }
    Studio.status(`${Studio.state.models.length} model(s) loaded.`);
  } catch (err) { Studio.fail(err); }
})();
