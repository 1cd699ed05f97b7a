// Shared by the gateway's pages: the reader's API key and calls to the gateway's API.
//
// The key lives in this tab's sessionStorage only and goes out as an `Authorization: Bearer`
// header, never as a cookie (so no other site can make the browser use it) and never in a URL.
// Everything shown comes from the API and is attacker-controlled text: nodes are built with
// `textContent` (`el` below), never from HTML strings.

const KEY_STORAGE = "rampart.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// `path` is relative to the page (`items`, `../gateway/openapi.json`), so the pages work below any mount prefix.
export async function api(path, { method = "GET", body } = {}) {
  const key = storedKey();
  if (!key) {
    throw new ApiError(0, "Enter an API key first.");
  }
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), init);
  } catch (error) {
    throw new ApiError(0, `The gateway did not answer: ${error.message}`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error && typeof data.error.message === "string"
      ? data.error.message
      : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return data;
}

// An element whose children are nodes or strings; strings become text nodes, never markup.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) {
      continue;
    }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A status line that says what happened (`role="status"` on the element reads it out too).
export function say(target, text, kind = "info") {
  target.textContent = text;
  target.dataset.kind = kind;
}

// Wires a page's key form: the submitted key is kept for this tab; "Forget key" drops it.
export function bindKeyForm(form, onKey) {
  const input = form.querySelector("input[name=key]");
  const forget = form.querySelector("[data-action=forget-key]");
  const state = form.querySelector("[data-role=key-state]");
  const show = () => {
    state.textContent = storedKey() ? "A key is set for this tab." : "No key set.";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    input.value = "";
    show();
    onKey();
  });
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    show();
    onKey();
  });
  show();
}
