// Calls mlapi's POST /api/v1/sentiment with fetch from this page's origin, and shows what the browser lets it read:
// the status, the JSON, and the headers mlapi exposes to other origins (X-RateLimit-Remaining, X-Request-ID).
"use strict";

const FIELDS = ["message", "status", "label", "remaining", "request-id", "json"];

function show(id, text) {
  document.getElementById(id).textContent = text;
}

function settle(state) {
  document.getElementById("answer").dataset.state = state;  // idle, waiting, answered, refused or blocked
}

function blockedMessage(api, key, error) {
  const origin = window.location.origin;
  const listing = key
    ? `list ${origin} by name in MLAPI_CORS_ORIGINS ("*" admits calls without a key only)`
    : `add ${origin} (or *) to MLAPI_CORS_ORIGINS`;
  return `Blocked: the browser did not let this page read the answer (${error.message}). Either nothing answers at ` +
    `${api}, or that server does not allow this page's origin: ${listing} and restart it. ` +
    "The browser's console says which.";
}

async function call(event) {
  event.preventDefault();
  const api = document.getElementById("api").value.trim().replace(/\/+$/, "");
  const key = document.getElementById("key").value.trim();
  const text = document.getElementById("text").value;
  const headers = {"Content-Type": "application/json"};
  if (key) {
    headers.Authorization = `Bearer ${key}`;
  }
  FIELDS.forEach((id) => show(id, ""));
  settle("waiting");

  let response;
  try {
    response = await fetch(`${api}/api/v1/sentiment`, {
      method: "POST", mode: "cors", credentials: "omit", headers, body: JSON.stringify({text}),
    });
  } catch (error) {  // the browser tells a script nothing more than this, on purpose
    show("message", blockedMessage(api, key, error));
    settle("blocked");
    return;
  }

  show("status", `${response.status} ${response.statusText}`.trim());
  show("remaining", response.headers.get("X-RateLimit-Remaining") ?? "(not sent, or not exposed)");
  show("request-id", response.headers.get("X-Request-ID") ?? "(not sent, or not exposed)");
  const body = await response.json().catch(() => null);
  show("json", JSON.stringify(body, null, 2));
  if (response.ok && body) {
    show("label", body.label);
    settle("answered");
  } else {
    show("message", body && body.detail ? body.detail : `The API answered ${response.status}.`);
    settle("refused");
  }
}

document.getElementById("call").addEventListener("submit", call);
