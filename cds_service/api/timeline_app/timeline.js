// The timeline page: after authorization, read the chart with the token, post the resources to the service
// for its reading (the same mapping and rules as the cards), and show the screen it draws.
import { appConfig, completeAuthorization } from "./smart.js";

const MAX_PAGES = 5;
const started = performance.now();

function status(text, alert = false) {
  const element = document.getElementById("status");
  element.textContent = text;
  if (alert) element.setAttribute("role", "alert");
}

async function readAll(session, url) {
  const resources = [];
  let next = url;
  for (let page = 0; next && page < MAX_PAGES; page += 1) {
    const response = await fetch(next, {
      headers: { Authorization: `Bearer ${session.token}`, Accept: "application/fhir+json" },
    });
    if (!response.ok) throw new Error(`${response.status}`);
    const body = await response.json();
    if (body.resourceType !== "Bundle") {
      resources.push(body);
      break;
    }
    for (const entry of body.entry || []) if (entry.resource) resources.push(entry.resource);
    const link = (body.link || []).find((l) => l.relation === "next");
    next = link && link.url.startsWith(session.iss) ? link.url : null;
  }
  return resources;
}

async function readChart(session, config) {
  const unavailable = new Set();
  const results = await Promise.all(
    config.queries.map(async (query) => {
      const path = query.template.replaceAll("{{context.patientId}}", encodeURIComponent(session.patient));
      try {
        return await readAll(session, `${session.iss}/${path}`);
      } catch (error) {
        if (query.required) unavailable.add(query.group);
        return [];
      }
    }),
  );
  const seen = new Set();
  const resources = [];
  for (const resource of results.flat()) {
    const key = `${resource.resourceType}/${resource.id}`;
    if (!resource.id || !seen.has(key)) resources.push(resource);
    seen.add(key);
  }
  return { resources, unavailable };
}

function showSource(link) {
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  const details = target.closest("details");
  if (details) details.open = true;
  document.querySelectorAll(".selected").forEach((element) => element.classList.remove("selected"));
  (target.closest("tr") || target).classList.add("selected");
  target.focus();
}

function draw(html) {
  const screen = document.getElementById("screen");
  screen.innerHTML = html;
  screen.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (link) {
      event.preventDefault();
      showSource(link);
    }
  });
}

async function main() {
  const session = await completeAuthorization();
  if (!session) {
    status("Open this app from the EHR, or from a card's \u201cOpen timeline\u201d link.");
    return;
  }
  status("Reading the chart\u2026");
  const config = await appConfig();
  const chart = await readChart(session, config);
  session.token = null; // the chart is read: the token is no longer needed
  const response = await fetch("reading", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      patient: session.patient,
      resources: chart.resources,
      conditionsAvailable: !chart.unavailable.has("conditions"),
      medicationsAvailable: !chart.unavailable.has("medications"),
    }),
  });
  if (!response.ok) throw new Error(`The service could not read the chart (${response.status})`);
  const answer = await response.json();
  draw(answer.html);
  const elapsed = Math.round(performance.now() - started);
  document.body.dataset.drawnMs = String(elapsed);
  document.body.dataset.state = "drawn";
  status(`Patient ${answer.reading.patient}: the service's reading of the chart on ${answer.reading.asOf} (knowledge v${answer.reading.knowledgeVersion}).`);
}

main().catch((error) => {
  document.body.dataset.state = "failed";
  status(error.message, true);
});
