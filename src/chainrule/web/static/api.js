// /docs: a small, local rendering of /openapi.json (FastAPI's own docs page loads from a CDN).
"use strict";

function resolve(spec, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { name, schema: spec.components.schemas[name] };
  }
  return { name: null, schema };
}

function block(text, tag = "pre") {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function schemaSection(spec, title, schema) {
  const section = document.createElement("div");
  const { name, schema: body } = resolve(spec, schema);
  section.append(block(`${title}${name ? `: ${name}` : ""}`, "h3"));
  section.append(block(JSON.stringify(body, null, 2)));
  return section;
}

async function start() {
  const main = document.getElementById("api");
  const spec = await (await fetch("/openapi.json")).json();
  main.append(block(`${spec.info.title} ${spec.info.version}`, "h2"));
  main.append(block(spec.info.description || "", "p"));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const panel = document.createElement("section");
      panel.className = "panel wide";
      panel.append(block(`${method.toUpperCase()} ${path}`, "h2"));
      if (op.summary) panel.append(block(op.summary, "p"));
      if (op.description) panel.append(block(op.description, "p"));
      const request = op.requestBody && op.requestBody.content["application/json"];
      if (request) panel.append(schemaSection(spec, "request body", request.schema));
      for (const [status, response] of Object.entries(op.responses || {})) {
        const content = response.content && response.content["application/json"];
        const title = `${status} ${response.description || ""}`;
        panel.append(content ? schemaSection(spec, title, content.schema) : block(title, "h3"));
      }
      main.append(panel);
    }
  }
  const schemas = document.createElement("section");
  schemas.className = "panel wide";
  schemas.append(block("schemas", "h2"));
  for (const [name, schema] of Object.entries(spec.components.schemas || {})) {
    schemas.append(block(name, "h3"), block(JSON.stringify(schema, null, 2)));
  }
  main.append(schemas);
}

document.addEventListener("DOMContentLoaded", start);
