// SMART App Launch 2.x for a public client: discovery, PKCE S256, the authorization code, the token.
// Nothing here is sent to the CDS service: the token stays in this page's memory, and the PKCE verifier
// in sessionStorage only between the launch and the redirect (removed when the code is exchanged).

const STORE_PREFIX = "hcc-timeline:";

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function pkceChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(digest);
}

export async function appConfig() {
  const response = await fetch("config.json", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The app's configuration could not be read (${response.status})`);
  return response.json();
}

export function redirectUri() {
  return new URL("./", window.location.href).href.split("?")[0];
}

function issuerAllowed(config, iss) {
  const wanted = iss.replace(/\/+$/, "");
  return config.allowedIssuers.some((allowed) => allowed.replace(/\/+$/, "") === wanted);
}

export async function discover(iss) {
  const response = await fetch(`${iss.replace(/\/+$/, "")}/.well-known/smart-configuration`, {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`No SMART configuration at ${iss} (${response.status})`);
  const found = await response.json();
  if (!found.authorization_endpoint || !found.token_endpoint) {
    throw new Error("The SMART configuration names no authorization or token endpoint");
  }
  if (!(found.code_challenge_methods_supported || []).includes("S256")) {
    throw new Error("The authorization server does not support PKCE S256");
  }
  return found;
}

export function requestedScopes(config, smartConfiguration, ehrLaunch) {
  const capabilities = smartConfiguration.capabilities || [];
  const v2 = capabilities.includes("permission-v2") || !capabilities.includes("permission-v1");
  const context = ehrLaunch ? "launch" : "launch/patient";
  return `${context} ${v2 ? config.scopesV2 : config.scopesV1}`;
}

export async function launch() {
  const params = new URLSearchParams(window.location.search);
  const iss = params.get("iss");
  const launchId = params.get("launch");
  if (!iss) throw new Error("The launch names no FHIR server (iss)");
  const config = await appConfig();
  if (!issuerAllowed(config, iss)) throw new Error(`FHIR server ${iss} is not one this service is set up for`);
  const smart = await discover(iss);
  const state = randomText(24);
  const verifier = randomText(48);
  const redirect = redirectUri();
  sessionStorage.setItem(
    STORE_PREFIX + state,
    JSON.stringify({ iss, verifier, redirect, tokenEndpoint: smart.token_endpoint, clientId: config.clientId }),
  );
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirect,
    scope: requestedScopes(config, smart, Boolean(launchId)),
    state,
    aud: iss,
    code_challenge: await pkceChallenge(verifier),
    code_challenge_method: "S256",
  });
  if (launchId) query.set("launch", launchId);
  window.location.assign(`${smart.authorization_endpoint}?${query}`);
}

// After the redirect: exchange the code (once) for a token; returns {iss, token, patient, scope}.
export async function completeAuthorization() {
  const params = new URLSearchParams(window.location.search);
  const state = params.get("state");
  if (params.get("error")) throw new Error(`Authorization refused: ${params.get("error_description") || params.get("error")}`);
  const code = params.get("code");
  if (!code || !state) return null;
  const key = STORE_PREFIX + state;
  const saved = sessionStorage.getItem(key);
  sessionStorage.removeItem(key);
  window.history.replaceState(null, "", window.location.pathname);
  if (!saved) throw new Error("This authorization was not started here, or was already used: launch the app again");
  const session = JSON.parse(saved);
  const response = await fetch(session.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: session.redirect,
      client_id: session.clientId,
      code_verifier: session.verifier,
    }),
  });
  if (!response.ok) throw new Error(`The token request was refused (${response.status})`);
  const token = await response.json();
  if (!token.access_token || !token.patient) throw new Error("The token response has no access token or patient");
  return { iss: session.iss.replace(/\/+$/, ""), token: token.access_token, patient: token.patient, scope: token.scope || "" };
}

if (document.body.dataset.page === "launch") {
  launch().catch((error) => {
    const status = document.getElementById("status");
    status.textContent = error.message;
    status.setAttribute("role", "alert");
  });
}
