// The dashboard's pages, rendered in the browser from the data endpoints (plain ES module, no build step).
// A run's page follows it live over Server-Sent Events; the lists poll, because the API has no stream of all
// runs or of the registry (WatchRun follows one run).
const app = document.getElementById("app");
const POLL_MS = 3000;

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
/** "RUN_STATUS_RUNNING" -> "running", "STAGE_SFT" -> "sft". */
const enumName = (v, prefix) => String(v ?? "").replace(prefix, "").toLowerCase() || "unspecified";
const badge = (s) => `<span class="status ${esc(s)}">${esc(s)}</span>`;
const time = (iso) => (iso ? esc(iso.slice(0, 19).replace("T", " ")) : "");
const fmt = (x) => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4));
const metricsText = (m) => Object.entries(m ?? {}).map(([k, v]) => `${esc(k)}=${fmt(v)}`).join(" ");
const runLink = (id) => `<a href="/runs/${encodeURIComponent(id)}">${esc(id)}</a>`;
const evalLink = (id) => (id ? `<a href="/evals/${encodeURIComponent(id)}/report">${esc(id)}</a>` : "");

/** GET a data endpoint; a 401 sends the browser to the login form. */
async function getJson(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (res.status === 401) {
    location.assign("/login");
    throw new Error("signed out");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

function table(id, head, rows) {
  if (!rows.length) return `<p class="note" id="${id}-empty">None.</p>`;
  return `<table id="${id}"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</table>`;
}

function stagesCell(run) {
  return `<span class="stages">${(run.stages ?? [])
    .map((s) => `<span>${esc(enumName(s.stage, "STAGE_"))}:${badge(enumName(s.status, "STAGE_STATUS_"))}${s.totalSteps ? ` ${s.step ?? 0}/${s.totalSteps}` : ""}</span>`)
    .join("")}</span>`;
}

/** Re-renders `draw` every POLL_MS until the page changes. */
function poll(draw) {
  const tick = () => draw().catch((err) => (app.innerHTML = `<p class="error">${esc(err.message)}</p>`));
  void tick();
  setInterval(tick, POLL_MS);
}

async function runsPage() {
  const [{ runs }, queue] = await Promise.all([getJson("/api/runs"), getJson("/api/queue")]);
  app.innerHTML =
    `<h1>Runs</h1>` +
    table("runs", ["run", "recipe", "status", "stages", "created", "message"], runs.map((r) => [runLink(r.id), esc(r.recipe?.name), badge(enumName(r.status, "RUN_STATUS_")), stagesCell(r), time(r.createdAt), esc(r.message)])) +
    `<p class="note">${queue.queued.length} job(s) queued, ${queue.running.length} running — <a href="/queue">queue &amp; workers</a></p>`;
}

async function queuePage() {
  const q = await getJson("/api/queue");
  const job = (j) => [runLink(j.runId), esc(j.stage), esc(j.jobId), j.totalSteps ? `${j.step ?? 0}/${j.totalSteps}` : ""];
  app.innerHTML =
    `<h1>Queue</h1><h2>Waiting for a worker</h2>` +
    table("queued", ["run", "stage", "job", "step"], q.queued.map(job)) +
    `<h2>Running</h2>` +
    table("running", ["run", "stage", "job", "step"], q.running.map(job)) +
    `<h2>Workers</h2>` +
    table("workers", ["worker", "busy", "run", "stage", "step", "jobs done", "since"], q.workers.map((w) => [esc(w.workerId), w.busy ? "yes" : "no", w.runId ? runLink(w.runId) : "", esc(enumName(w.stage, "STAGE_")), w.totalSteps ? `${w.step ?? 0}/${w.totalSteps}` : "", esc(w.jobsCompleted ?? 0), time(w.startedAt)])) +
    (q.workerError
      ? `<p class="error">trainer: ${esc(q.workerError)}</p>`
      : q.workers.length
        ? `<p class="note">The trainer worker at the dashboard's trainer address (under <code>mambalign up</code>, the one in its process).</p>`
        : `<p class="note">No trainer address is set (a cluster's trainer replicas have no Service): each running stage's message names its worker.</p>`);
}

async function registryPage() {
  const { versions } = await getJson("/api/registry");
  const byId = new Map(versions.map((v) => [v.id, v]));
  const chain = (v) => {
    const ids = [];
    for (let cur = v, seen = new Set(); cur && !seen.has(cur.id); cur = byId.get(cur.parent)) {
      seen.add(cur.id);
      ids.push(esc(cur.id));
      if (!cur.parent) ids.push(esc(cur.baseModel?.uri ?? "base model"));
    }
    return ids.join(" ← ");
  };
  app.innerHTML =
    `<h1>Registry</h1>` +
    table("versions", ["version", "kind", "stage", "aliases", "lineage", "run", "evaluations", "created"], versions.map((v) => [
      esc(v.id),
      esc(enumName(v.kind, "ARTIFACT_KIND_")),
      esc(enumName(v.stage, "STAGE_")),
      (v.aliases ?? []).map((a) => `<span class="status">${esc(a)}</span>`).join(" "),
      chain(v),
      v.runId ? runLink(v.runId) : "",
      (v.evals ?? []).map((e) => `${evalLink(e.evalId)} ${metricsText(e.metrics)}`).join("<br>"),
      time(v.createdAt),
    ]));
}

function runHtml(run) {
  const stages = table("stages", ["stage", "status", "attempt", "step", "output", "metrics", "message"], (run.stages ?? []).map((s) => {
    const stage = enumName(s.stage, "STAGE_");
    return [esc(stage), badge(enumName(s.status, "STAGE_STATUS_")), esc(s.attempt ?? ""), s.totalSteps ? `${s.step ?? 0}/${s.totalSteps}` : "", stage === "eval" ? evalLink(s.output) : esc(s.output), metricsText(s.metrics), esc(s.message)];
  }));
  const baselines = (run.baselines ?? []).length
    ? `<h2>Baseline evaluations</h2>` + table("baselines", ["label", "status", "version", "evaluation", "metrics"], run.baselines.map((b) => [esc(b.label), badge(enumName(b.status, "STAGE_STATUS_")), esc(b.versionId || "(base model)"), evalLink(b.output), metricsText(b.metrics) || esc(b.message)]))
    : "";
  return (
    `<h1>Run ${esc(run.id)} <span id="run-status">${badge(enumName(run.status, "RUN_STATUS_"))}</span></h1>` +
    `<p class="note">recipe ${esc(run.recipe?.name)} (model ${esc(run.recipe?.model?.uri)}); created ${time(run.createdAt)}; updated ${time(run.updatedAt)}${run.message ? `; ${esc(run.message)}` : ""}</p>` +
    `<h2>Stages</h2>${stages}${baselines}` +
    ((run.warnings ?? []).length ? `<h2>Warnings</h2><ul>${run.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : "")
  );
}

function runPage(id) {
  app.innerHTML = `<section id="run"></section><h2>Training curves</h2><p class="note" id="stream-state">connecting…</p><div id="charts" data-steps="0"></div>`;
  const runEl = document.getElementById("run");
  const state = document.getElementById("stream-state");
  const charts = document.getElementById("charts");
  void getJson(`/api/runs/${encodeURIComponent(id)}`).then(({ run }) => run && !runEl.innerHTML && (runEl.innerHTML = runHtml(run)), (err) => (runEl.innerHTML = `<p class="error">${esc(err.message)}</p>`));
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/stream`);
  source.addEventListener("run", (e) => {
    runEl.innerHTML = runHtml(JSON.parse(e.data));
    if (state.textContent.startsWith("connecting")) state.textContent = "live";
  });
  source.addEventListener("charts", (e) => {
    const { steps, latest, figures } = JSON.parse(e.data);
    if (latest) state.textContent = `live — ${latest.stage} step ${latest.step}${latest.loss === null ? "" : `, loss ${fmt(latest.loss)}`} (${steps} steps logged)`;
    // The SVGs come from the server's chart renderer (vega), which escapes the text it draws.
    charts.innerHTML = figures.length ? figures.join("") : `<p class="note">No training steps logged yet.</p>`;
    charts.dataset.steps = String(steps);
  });
  source.addEventListener("end", () => {
    source.close();
    state.textContent = "the run has ended";
  });
  source.addEventListener("failure", (e) => {
    source.close();
    const { message, code } = JSON.parse(e.data);
    if (code === 16) location.assign("/login");
    state.innerHTML = `<span class="error">${esc(message)}</span>`;
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CONNECTING) state.textContent = "reconnecting…";
  };
}

const path = location.pathname;
const run = /^\/runs\/([^/]+)$/.exec(path);
if (run) runPage(decodeURIComponent(run[1]));
else if (path === "/queue") poll(queuePage);
else if (path === "/registry") poll(registryPage);
else poll(runsPage);
