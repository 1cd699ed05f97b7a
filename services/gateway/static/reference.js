// The API reference page: renders an OpenAPI document (the inference service's `/docs.json` or
// the gateway's own `openapi.json`) as a readable list of operations, their parameters, bodies,
// responses and errors, and the schemas they use. Every string from the document is set as text.

import { api, bindKeyForm, el, say, storedKey } from "./common.js";

// Paths relative to this page (`/v1/reference/`), so the page works below any mount prefix.
const SPECS = {
  inference: "../../docs.json",
  gateway: "../gateway/openapi.json",
};
const METHODS = ["get", "post", "put", "patch", "delete"];

const message = document.getElementById("message");
const choice = document.getElementById("spec");
const info = document.getElementById("spec-info");
const toc = document.getElementById("toc");
const operations = document.getElementById("operations");
const schemas = document.getElementById("schemas");
const note = document.getElementById("spec-note");

function anchor(prefix, name) {
  return `${prefix}-${String(name).replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function refName(ref) {
  return ref.startsWith("#/components/schemas/") ? ref.slice("#/components/schemas/".length) : ref;
}

// A schema as a short type: a link for a named schema, `array of …`, `a | b`, enums as their values.
function typeOf(schema) {
  if (!schema || typeof schema !== "object") {
    return "any";
  }
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return el("a", { href: `#${anchor("schema", name)}` }, name);
  }
  const alternatives = schema.anyOf || schema.oneOf;
  if (Array.isArray(alternatives)) {
    return joined(alternatives.map(typeOf), " | ");
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) {
    return typeOf(schema.allOf[0]);
  }
  if (Array.isArray(schema.enum)) {
    return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  }
  if (schema.const !== undefined) {
    return JSON.stringify(schema.const);
  }
  if (schema.type === "array") {
    return joined(["array of ", typeOf(schema.items)], "");
  }
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    return joined(["map of ", typeOf(schema.additionalProperties)], "");
  }
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || (schema.properties ? "object" : "any");
  return schema.format ? `${type} (${schema.format})` : type;
}

function joined(parts, separator) {
  const span = el("span");
  parts.forEach((part, index) => {
    if (index > 0) {
      span.append(separator);
    }
    span.append(part instanceof Node ? part : String(part));
  });
  return span;
}

function table(headings, rows, rowClass = () => undefined) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headings.map((heading) => el("th", {}, heading)))),
    el("tbody", {}, rows.map((row) => el("tr", { class: rowClass(row) }, row.cells.map((cell) => el("td", {}, cell))))),
  );
}

function propertiesTable(schema) {
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([name, property]) => ({
    cells: [el("code", {}, name), typeOf(property), required.has(name) ? "yes" : "", property.description || property.title || ""],
  }));
  return rows.length ? table(["field", "type", "required", "description"], rows) : null;
}

function schemaView(schema) {
  if (schema && !schema.$ref && schema.properties) {
    return propertiesTable(schema);
  }
  return el("p", {}, typeOf(schema));
}

function operationView(index, path, method, operation) {
  const section = el("section", { id: anchor("op", index), class: "operation" });
  section.append(el("h3", {}, el("span", { class: `method method-${method}` }, method.toUpperCase()), " ", el("code", {}, path)));
  if (operation.summary) {
    section.append(el("p", { class: "summary" }, operation.summary));
  }
  if (operation.description) {
    section.append(el("p", { class: "description" }, operation.description));
  }
  if (operation["x-rampart-scope"]) {
    section.append(el("p", {}, "Needs the scope ", el("code", {}, operation["x-rampart-scope"]), "."));
  }
  const parameters = operation.parameters || [];
  if (parameters.length) {
    section.append(el("h4", {}, "Parameters"));
    section.append(table(["name", "in", "type", "required", "description"], parameters.map((parameter) => ({
      cells: [
        el("code", {}, parameter.name), parameter.in, typeOf(parameter.schema), parameter.required ? "yes" : "",
        parameter.description || "",
      ],
    }))));
  }
  const body = operation.requestBody;
  if (body && body.content) {
    section.append(el("h4", {}, `Request body${body.required ? "" : " (optional)"}`));
    for (const [mediaType, content] of Object.entries(body.content)) {
      section.append(el("p", {}, el("code", {}, mediaType)), schemaView(content.schema));
    }
  }
  const responses = Object.entries(operation.responses || {});
  if (responses.length) {
    section.append(el("h4", {}, "Responses and errors"));
    section.append(table(["status", "description", "body"], responses.map(([status, response]) => {
      const content = Object.values(response.content || {})[0];
      return { status, cells: [status, response.description || "", content ? typeOf(content.schema) : ""] };
    }), (row) => (Number(row.status) >= 400 || row.status === "default" ? "error" : undefined)));
  }
  return section;
}

function render(spec) {
  const specInfo = spec.info || {};
  const version = specInfo.version && specInfo.version !== "None" ? ` (version ${specInfo.version})` : "";
  info.replaceChildren(
    el("h2", {}, `${specInfo.title || "API"}${version}`),
    // Often a framework's boilerplate in Markdown: shown on request, as text.
    specInfo.description
      ? el("details", {}, el("summary", {}, "Description from the schema"), el("p", { class: "description" }, specInfo.description))
      : "",
  );
  const entries = [];
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      if (item[method]) {
        entries.push([path, method, item[method]]);
      }
    }
  }
  toc.replaceChildren(el("h2", {}, "Operations"), el("ul", {}, entries.map(([path, method, operation], index) => el(
    "li", {}, el("a", { href: `#${anchor("op", index)}` }, `${method.toUpperCase()} ${path}`),
    operation.summary ? ` — ${operation.summary}` : "",
  ))));
  operations.replaceChildren(...entries.map(([path, method, operation], index) => operationView(index, path, method, operation)));
  const named = Object.entries((spec.components && spec.components.schemas) || {});
  schemas.replaceChildren(el("h2", {}, "Schemas"), ...named.map(([name, schema]) => el(
    "section", { id: anchor("schema", name), class: "schema" },
    el("h3", {}, el("code", {}, name)),
    schema.description ? el("p", { class: "description" }, schema.description) : "",
    schema.properties ? propertiesTable(schema) : el("p", {}, typeOf(schema)),
  )));
  return entries.length;
}

async function load() {
  note.hidden = note.dataset.spec !== choice.value;
  for (const part of [info, toc, operations, schemas]) {
    part.replaceChildren();
  }
  if (!storedKey()) {
    say(message, "Enter an API key to load the reference.");
    return;
  }
  try {
    const count = render(await api(SPECS[choice.value]));
    say(message, `${choice.selectedOptions[0].dataset.name}: ${count} operations.`, "ok");
  } catch (error) {
    say(message, error.message, "error");
  }
}

choice.addEventListener("change", load);
bindKeyForm(document.getElementById("key-form"), load);
load();
