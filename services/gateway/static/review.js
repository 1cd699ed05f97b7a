// The review queue page: list items, inspect one, approve, reject or approve an edited answer.
// Calls the gateway's review API (`items`, relative to this page) with the reader's key.

import { api, bindKeyForm, el, say, storedKey } from "./common.js";

const message = document.getElementById("message");
const statusFilter = document.getElementById("status-filter");
const rows = document.querySelector("#items tbody");
const empty = document.getElementById("empty");
const detail = document.getElementById("detail");
const decision = document.getElementById("decision");
const note = document.getElementById("note");
const editedAnswer = document.getElementById("edited-answer");

// Content keys the handoff writes, in the order a reviewer reads them.
const SECTIONS = [
  ["prompt", "Prompt (as the input scanners left it)"],
  ["answer", "Answer (as the output scanners left it)"],
  ["passages", "Retrieved passages"],
  ["flagged_by", "Flagged by (input scanners for flagged_input, output scanners for flagged_output)"],
];

let current = null;

function time(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "";
}

function texts(value) {
  return Array.isArray(value) ? value : [value];
}

async function loadList({ announce = true } = {}) {
  if (!storedKey()) {
    rows.replaceChildren();
    empty.hidden = true;
    say(message, "Enter an API key with the review scopes to see the queue.");
    return;
  }
  try {
    const status = statusFilter.value;
    const data = await api(`items?status=${encodeURIComponent(status)}&limit=200`);
    rows.replaceChildren(...data.items.map(itemRow));
    empty.hidden = data.items.length > 0;
    if (announce) {
      say(message, `${data.items.length} ${status} item${data.items.length === 1 ? "" : "s"}.`);
    }
  } catch (error) {
    rows.replaceChildren();
    say(message, error.message, "error");
  }
}

function itemRow(item) {
  const flagged = texts(item.content.flagged_by || []).join(", ");
  const open = el("button", { type: "button", class: "open", dataset: { itemId: item.id } }, "Open");
  open.addEventListener("click", () => openItem(item.id));
  return el(
    "tr",
    { dataset: { itemId: item.id } },
    el("td", {}, time(item.created)),
    el("td", {}, item.reason),
    el("td", {}, el("code", {}, item.route)),
    el("td", {}, item.tenant),
    el("td", {}, flagged),
    el("td", { class: `status status-${item.status}` }, item.status),
    el("td", {}, open),
  );
}

async function openItem(itemId) {
  try {
    showItem(await api(`items/${encodeURIComponent(itemId)}`));
  } catch (error) {
    say(message, error.message, "error");
  }
}

function fact(term, value) {
  return value === undefined || value === null || value === "" ? [] : [el("dt", {}, term), el("dd", {}, value)];
}

function contentSection(label, value) {
  const body = Array.isArray(value)
    ? el("ol", {}, value.map((entry) => el("li", {}, block(entry))))
    : block(value);
  return el("section", { class: "content" }, el("h3", {}, label), body);
}

// One text as preformatted text; a passage or anything else structured as indented JSON, still as text.
function block(value) {
  if (typeof value === "string") {
    return el("pre", {}, value);
  }
  return el("pre", {}, JSON.stringify(value, null, 2));
}

function showItem(item) {
  current = item;
  detail.hidden = false;
  document.getElementById("detail-id").textContent = item.id;
  document.getElementById("facts").replaceChildren(
    ...fact("Status", item.status),
    ...fact("Reason", item.reason),
    ...fact("Route", item.route),
    ...fact("Tenant", item.tenant),
    ...fact("Request id", item.request_id),
    ...fact("Queued", time(item.created)),
    ...fact("Decided by", item.decided_by),
    ...fact("Decided", time(item.decided_at)),
    ...fact("Note", item.note),
  );
  const known = new Set(SECTIONS.map(([key]) => key));
  const sections = SECTIONS.filter(([key]) => item.content[key] !== undefined)
    .map(([key, label]) => contentSection(label, item.content[key]));
  for (const [key, value] of Object.entries(item.content)) {
    if (!known.has(key)) {
      sections.push(contentSection(key, value));
    }
  }
  if (item.edited_answer !== null && item.edited_answer !== undefined) {
    sections.push(contentSection("Edited answer (approved in place of the model's)", item.edited_answer));
  }
  document.getElementById("content").replaceChildren(...sections);
  decision.hidden = item.status !== "pending";
  note.value = "";
  editedAnswer.value = texts(item.content.answer || []).join("\n\n");
}

async function decide(action, body) {
  if (!current) {
    return;
  }
  const itemId = current.id;
  try {
    const item = await api(`items/${encodeURIComponent(itemId)}/${action}`, { method: "POST", body });
    showItem(item);
    say(message, `Item ${item.id} is now ${item.status}.`, "ok");
    await loadList({ announce: false });
  } catch (error) {
    say(message, error.message, "error");
  }
}

document.getElementById("approve").addEventListener("click", () => decide("approve", { note: note.value }));
document.getElementById("reject").addEventListener("click", () => decide("reject", { note: note.value }));
document.getElementById("save-edit").addEventListener("click", () => {
  decide("edit", { answer: editedAnswer.value, note: note.value });
});
document.getElementById("refresh").addEventListener("click", () => loadList());
statusFilter.addEventListener("change", () => loadList());
bindKeyForm(document.getElementById("key-form"), () => {
  detail.hidden = true;
  current = null;
  loadList();
});
loadList();
