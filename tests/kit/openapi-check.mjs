// Holds every answer and socket message the tests receive to the OpenAPI document
// (public/openapi.json, served at GET /v1/openapi.json). Used by tests/kit/harness.mjs: its
// TestWorker.request(), its refused upgrades and its LiveClient messages all pass through here.
// Not a test file itself (tests/*.test.mjs is what runs).
//
// An answer is looked up as a client of the document would: the path item by path (a /v1 path the
// document does not list is its `x-herenow-unknown-paths` item; paths outside /v1 - the static
// assets - and the /v1/_test/* hooks are not described and not checked), the operation by method
// (HEAD as the GET marked `x-herenow-head`; a method the path item does not list by its
// `x-herenow-other-methods`), the response by status (then `NXX`, then `default`), the schema by
// content type. Documented headers are checked too (required ones must be there). A socket
// message is checked against components/schemas/LiveServerMessage.
//
// The document is read and its schemas compiled once per process, on first use.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OPENAPI_PATH = path.join(ROOT, 'public', 'openapi.json');
const DOC_ID = 'https://herenow.invalid/openapi.json';

/** What was checked in this process (for the run's summary). */
export const openapiStats = {
  answers: 0,
  messages: 0,
  /** Answers outside the document (static assets, test hooks), not checked. */
  notDescribed: 0,
  byOperation: {},
  byMessage: {},
};

/** Violations not yet taken by takeViolations() (the harness fails the test that saw them). */
const pending = [];

export class OpenApiViolation extends Error {
  constructor(message) {
    super(message);
    this.name = 'OpenApiViolation';
  }
}

/** The violations recorded since the last call. */
export function takeViolations() {
  return pending.splice(0);
}

let state = null;

function load() {
  if (state) return state;
  const doc = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8'));
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  // The document is not a schema; its schemas are reached by JSON pointer into it.
  for (const keyword of ['components', 'paths', 'webhooks']) ajv.addKeyword({ keyword });
  ajv.addSchema({ $id: DOC_ID, components: doc.components, paths: doc.paths, webhooks: doc.webhooks });
  state = { doc, ajv, validators: new Map() };
  return state;
}

/** The parsed document (as the tests' validator reads it). */
export function openapiDocument() {
  return load().doc;
}

const escapePart = (p) => encodeURIComponent(String(p).replace(/~/g, '~0').replace(/\//g, '~1'));
const pointerOf = (parts) => `#/${parts.map(escapePart).join('/')}`;

function at(doc, pointer) {
  let v = doc;
  for (const raw of pointer.replace(/^#\//, '').split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    v = v?.[part];
  }
  return v;
}

/** Follows `$ref`s (of responses and headers), answering the object and where it is. */
function deref(doc, obj, pointer) {
  for (let i = 0; i < 10 && obj && typeof obj.$ref === 'string'; i++) {
    pointer = obj.$ref;
    obj = at(doc, pointer);
  }
  return { obj, pointer };
}

function validatorAt(pointer) {
  const { ajv, validators } = load();
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.getSchema(DOC_ID + pointer);
    if (!v) throw new Error(`openapi-check: no schema at ${pointer}`);
    validators.set(pointer, v);
  }
  return v;
}

/** Readable Ajv errors, at most 12. */
function describeErrors(errors = []) {
  const lines = errors.slice(0, 12).map((e) => {
    const params = Object.entries(e.params ?? {})
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(', ');
    return `  - ${e.instancePath || '(root)'} ${e.message}${params ? ` (${params})` : ''} [${e.schemaPath}]`;
  });
  if (errors.length > 12) lines.push(`  - ... and ${errors.length - 12} more`);
  return lines.join('\n');
}

const shown = (text, max = 1500) => (text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text);

function header(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  const v = headers[name.toLowerCase()];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
}

/** The path item of a request path, or null when the document does not describe it. */
function pathItemOf(doc, pathname) {
  if (!(pathname === '/v1' || pathname.startsWith('/v1/'))) return null;
  if (pathname.startsWith('/v1/_test/')) return null;
  if (Object.hasOwn(doc.paths, pathname)) return { key: pathname, item: doc.paths[pathname] };
  const key = doc['x-herenow-unknown-paths'];
  return { key, item: doc.paths[key] };
}

/** The responses of `method` on a path item, and where they are in the document. */
function responsesOf(key, item, method) {
  const m = method.toLowerCase();
  if (m !== 'head' && item[m]?.responses) {
    return { where: `${method} ${key}`, responses: item[m].responses, at: ['paths', key, m, 'responses'] };
  }
  if (m === 'head' && item.get?.['x-herenow-head']) {
    return { where: `HEAD ${key} (as GET)`, responses: item.get.responses, at: ['paths', key, 'get', 'responses'] };
  }
  return {
    where: `${method} ${key} (x-herenow-other-methods)`,
    responses: item['x-herenow-other-methods'],
    at: ['paths', key, 'x-herenow-other-methods'],
  };
}

function fail(message) {
  const v = new OpenApiViolation(message);
  pending.push(v);
  throw v;
}

/**
 * Checks one HTTP answer: `{ method, path, status, headers, text }` (headers: a Headers or a
 * plain object of lower-case names). Answers `false` when the document does not describe the
 * path, `true` when the answer validates; throws an OpenApiViolation (also recorded for
 * takeViolations) when it does not.
 */
export function checkAnswer({ method, path: urlPath, status, headers, text = '' }) {
  const { doc } = load();
  method = String(method || 'GET').toUpperCase();
  const pathname = new URL(urlPath, 'http://127.0.0.1').pathname;
  const found = pathItemOf(doc, pathname);
  if (!found) {
    openapiStats.notDescribed += 1;
    return false;
  }
  const { where, responses, at: base } = responsesOf(found.key, found.item, method);
  const what = `${method} ${urlPath} answered ${status}`;
  const statusKey = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => responses && Object.hasOwn(responses, k));
  if (!statusKey) {
    fail(
      `OpenAPI: ${what}, a status the document does not list for ${where} (it lists ${Object.keys(responses ?? {}).join(', ')}).\n  body: ${shown(text)}`,
    );
  }
  const { obj: response, pointer } = deref(doc, responses[statusKey], pointerOf([...base, statusKey]));
  const label = `${where} responses.${statusKey}${pointer.startsWith('#/components/') ? ` (${pointer})` : ''}`;

  // headers
  for (const [name, h0] of Object.entries(response.headers ?? {})) {
    const { obj: h, pointer: hp } = deref(doc, h0, `${pointer}/headers/${escapePart(name)}`);
    const value = header(headers, name);
    if (value === null) {
      if (h.required) fail(`OpenAPI: ${what} without the header ${name} that ${label} requires.\n  body: ${shown(text)}`);
      continue;
    }
    if (h.schema) {
      const v = validatorAt(`${hp}/schema`);
      if (!v(value)) {
        fail(`OpenAPI: ${what} with the header ${name}: ${JSON.stringify(value)}, which does not validate against ${label}:\n${describeErrors(v.errors)}`);
      }
    }
  }

  // body
  const contentType = header(headers, 'content-type');
  const media = contentType ? contentType.split(';')[0].trim().toLowerCase() : null;
  if (!response.content) {
    if (text !== '') fail(`OpenAPI: ${what} with a body, where ${label} has none.\n  body: ${shown(text)}`);
  } else {
    if (!media || !Object.hasOwn(response.content, media)) {
      fail(
        `OpenAPI: ${what} as ${contentType ?? 'no content type'}, where ${label} has ${Object.keys(response.content).join(', ')}.\n  body: ${shown(text)}`,
      );
    }
    if (method !== 'HEAD') {
      let value = text;
      if (media === 'application/json' || media.endsWith('+json')) {
        try {
          value = JSON.parse(text);
        } catch {
          fail(`OpenAPI: ${what} with a body that is not JSON, where ${label} is ${media}.\n  body: ${shown(text)}`);
        }
      }
      const schemaAt = `${pointer}/content/${escapePart(media)}/schema`;
      const v = validatorAt(schemaAt);
      if (!v(value)) {
        fail(`OpenAPI: ${what}, which does not validate against ${label} ${media}:\n${describeErrors(v.errors)}\n  body: ${shown(text)}`);
      }
    }
  }
  openapiStats.answers += 1;
  const key = `${where.replace(/ \(.*\)$/, '')} ${statusKey}`;
  openapiStats.byOperation[key] = (openapiStats.byOperation[key] ?? 0) + 1;
  return true;
}

const MESSAGE_SCHEMAS = { count: 'CountMessage', status: 'StatusMessage', members: 'MembersMessage', error: 'SocketErrorMessage' };

/**
 * Checks one message a /v1/live socket received (`data` as the `ws` library gives it). Answers
 * the message (parsed JSON, or the text); throws an OpenApiViolation (also recorded) when it does
 * not validate against components/schemas/LiveServerMessage.
 */
export function checkMessage(data, isBinary, where = 'a /v1/live socket') {
  if (isBinary) {
    fail(`OpenAPI: ${where} received a binary message (${data.length} bytes); the document describes text frames only.`);
  }
  const text = data.toString();
  let value = text;
  try {
    value = JSON.parse(text);
  } catch {
    // plain text, such as "pong"
  }
  const v = validatorAt('#/components/schemas/LiveServerMessage');
  if (!v(value)) {
    // the errors of the one schema its `type` names are more readable than oneOf's
    const named = value && typeof value === 'object' ? MESSAGE_SCHEMAS[value.type] : null;
    const detail = named ? validatorAt(`#/components/schemas/${named}`) : v;
    if (named) detail(value);
    fail(
      `OpenAPI: ${where} received a message that does not validate against #/components/schemas/${named ?? 'LiveServerMessage'}:\n${describeErrors(detail.errors ?? v.errors)}\n  message: ${shown(text)}`,
    );
  }
  openapiStats.messages += 1;
  const key = value && typeof value === 'object' ? value.type : value;
  openapiStats.byMessage[key] = (openapiStats.byMessage[key] ?? 0) + 1;
  return value;
}

// The run's summary: with HERENOW_OPENAPI_STATS=<file>, each test process appends one JSON line.
process.on('exit', () => {
  const file = process.env.HERENOW_OPENAPI_STATS;
  if (!file || (openapiStats.answers === 0 && openapiStats.messages === 0 && openapiStats.notDescribed === 0)) return;
  const line = { file: path.relative(ROOT, process.argv[1] ?? ''), ...openapiStats };
  try {
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch {
    // a summary is not worth failing a run for
  }
});
