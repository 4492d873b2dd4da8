// The lead's campaign page (templates/arena/campaign.html): a file, not an inline script, so the
// Content-Security-Policy can forbid inline scripts. The progress URL comes from a data attribute.
// Refresh from the lead-only JSON endpoint every 3 s. Text only (textContent), never HTML.
(function () {
  const url = document.getElementById("campaign").dataset.progressUrl;
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
  const rows = (id, items, cols, empty) => {
    const body = document.getElementById(id); body.replaceChildren();
    if (!items.length) { const tr = document.createElement("tr"); const td = cell(empty); td.colSpan = cols.length; tr.append(td); body.append(tr); return; }
    for (const item of items) { const tr = document.createElement("tr"); for (const col of cols) tr.append(cell(col(item))); body.append(tr); }
  };
  async function refresh() {
    try {
      const r = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (!r.ok) return;
      const g = await r.json();
      document.getElementById("status").textContent = g.status;
      document.getElementById("rate").textContent = g.calls_per_second;
      document.getElementById("eta").textContent = g.eta_seconds === null ? "–" : g.eta_seconds + " s";
      document.getElementById("cost").textContent = "$" + g.cost_usd;
      const paused = document.getElementById("paused"); paused.textContent = g.paused_reason; paused.hidden = !g.paused_reason;
      for (const c of g.contestants) {
        const tr = document.querySelector(`#contestants tr[data-id="${c.contestant_id}"]`);
        if (!tr) continue;
        for (const td of tr.querySelectorAll("[data-k]")) td.textContent = (td.dataset.k === "cost_usd" ? "$" : "") + c[td.dataset.k];
      }
      rows("failures", g.failures, [f => f.prompt, f => f.contestant, f => f.attempts, f => f.last_error], "None.");
      rows("flagged", g.flagged, [f => f.prompt, f => f.contestant, f => f.asked_model, f => f.served_model,
        f => [f.model_mismatch ? "other model served" : "", f.self_identifies ? "names a model or vendor" : ""].join(" ").trim(),
        f => f.excerpt], "None.");
    } catch (e) { /* the next tick tries again */ }
  }
  setInterval(refresh, 3000);
})();
