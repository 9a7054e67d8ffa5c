#!/usr/bin/env node
// Writes public/openapi.json: the OpenAPI 3.1 document of the /v1 API (served by the Worker at
// GET /v1/openapi.json, from the assets). The document is built here, in code, so that the
// parts that repeat (each operation's error answers, the parameters, the headers) are written
// once and cannot drift apart; the JSON it writes is committed and is what clients and the tests
// read.
//
//   node scripts/openapi.mjs           writes public/openapi.json
//   node scripts/openapi.mjs --check   exits 1 if public/openapi.json is not what this writes
//
// Sources of truth: ../shared/CONTRACT.md (the public contract), src/api/*.rs (parameters and
// error codes), src/worker/*.rs (routes, methods and the order of the checks), src/object/mod.rs
// and src/presence/{effects,entities,history,types}.rs (the JSON of answers and socket messages).
//
// Conventions of the document, beyond plain OpenAPI (the tests' validator reads them):
// - `x-herenow-other-methods` on a path item: the answers of any method the path item does not
//   list (405 method_not_allowed with `Allow` for the API's paths, 404 for unknown paths).
// - `x-herenow-head: true` on a GET operation: HEAD answers as that GET, without a body.
// - `x-herenow-unknown-paths` at the top: which path item describes every /v1 path not listed.
// - `x-herenow-socket` on GET /v1/live: the socket's messages, as schemas.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_FILE = path.join(ROOT, 'public', 'openapi.json');

const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema) => ({ anyOf: [schema, { type: 'null' }] });

// ---------------------------------------------------------------------------------------------
// Error codes: every code of src/api/error.rs, with its status

export const ERROR_CODES = {
  bad_request: 400,
  bad_token: 401,
  unknown_site: 403,
  forbidden_origin: 403,
  bot: 403,
  entities_disabled: 403,
  not_watchable: 403,
  not_found: 404,
  method_not_allowed: 405,
  too_large: 413,
  upgrade_required: 426,
  rate_limited: 429,
  internal_error: 500,
  site_full: 503,
  too_many_sockets: 503,
};

const CODE_TEXT = {
  bad_request:
    'a malformed request: a missing or invalid parameter or field, a repeated query parameter, a query that is not percent-encoded UTF-8',
  bad_token: 'the token is missing, malformed, badly signed, expired, not yet valid, for another site, entity, scope or audience',
  unknown_site: 'the site is not configured',
  forbidden_origin: "the request's `Origin` is not one of the site's origins",
  bot: "the `User-Agent` is an obvious bot's (crawlers, monitors, automation tools, headless browsers that say so): nothing is counted",
  entities_disabled: 'the site has no `secret_env`, so it has no entities',
  not_watchable: "an entity (or a room) outside the watch token's `watch` (or `rooms`) list",
  not_found: 'there is nothing at this path',
  method_not_allowed: 'the path does not answer this method (`Allow` lists those it answers)',
  too_large: 'the body is larger than 1 KiB',
  upgrade_required: 'the path only answers WebSocket upgrades',
  rate_limited: 'too many requests from this client to this site (per IP and site, 600 a minute)',
  internal_error: 'something went wrong on the server side (including a broken `SITES` configuration, or a broken entry for the site named)',
  site_full: 'the site holds `MAX_SESSIONS` live sessions (per object)',
  too_many_sockets: 'the site holds `MAX_SOCKETS` open sockets (per object)',
};

const STATUS_TEXT = {
  400: 'Bad request',
  401: 'Bad token',
  403: 'Refused',
  404: 'Not found',
  405: 'Method not allowed',
  413: 'Body too large',
  426: 'Upgrade required',
  429: 'Rate limited',
  500: 'Server error',
  503: 'At capacity',
};

/** The codes an answer may carry, by status, for each kind of operation. */
const ERRORS = {
  Ping: {
    400: ['bad_request'],
    401: ['bad_token'],
    403: ['unknown_site', 'forbidden_origin', 'bot', 'entities_disabled'],
    413: ['too_large'],
    429: ['rate_limited'],
    500: ['internal_error'],
    503: ['site_full'],
  },
  Count: { 400: ['bad_request'], 403: ['unknown_site', 'forbidden_origin'], 500: ['internal_error'] },
  Stats: {
    400: ['bad_request'],
    401: ['bad_token'],
    403: ['unknown_site', 'forbidden_origin'],
    500: ['internal_error'],
  },
  Watch: {
    400: ['bad_request'],
    401: ['bad_token'],
    403: ['unknown_site', 'forbidden_origin', 'entities_disabled', 'not_watchable'],
    500: ['internal_error'],
  },
  Live: {
    400: ['bad_request'],
    401: ['bad_token'],
    403: ['unknown_site', 'forbidden_origin', 'bot', 'entities_disabled', 'not_watchable'],
    426: ['upgrade_required'],
    429: ['rate_limited'],
    500: ['internal_error'],
    503: ['site_full', 'too_many_sockets'],
  },
  Badge: { 400: ['bad_request'], 403: ['unknown_site', 'forbidden_origin'], 500: ['internal_error'] },
  OpenApi: { 400: ['bad_request'], 404: ['not_found'], 500: ['internal_error'] },
  Preflight: { 400: ['bad_request'], 403: ['unknown_site', 'forbidden_origin'], 500: ['internal_error'] },
  UnknownPath: { 400: ['bad_request'], 404: ['not_found'], 500: ['internal_error'] },
  OtherMethod: { 400: ['bad_request'], 405: ['method_not_allowed'], 500: ['internal_error'] },
};

const ERROR_SCHEMA_TEXT = {
  Ping: 'An error of `POST /v1/ping`.',
  Count: 'An error of `GET /v1/count`.',
  Stats: 'An error of `GET /v1/rooms` and `GET /v1/history`.',
  Watch: 'An error of `GET /v1/status` and `GET /v1/members`.',
  Live: 'An error of `GET /v1/live` (a refused upgrade).',
  Badge: 'An error of `GET /v1/badge.svg` (errors are JSON, not SVG).',
  OpenApi: 'An error of `GET /v1/openapi.json`.',
  Preflight: 'An error of an `OPTIONS` preflight.',
  UnknownPath: 'The answer of a path under `/v1` that the API does not have.',
  OtherMethod: 'The answer of a method a path does not answer.',
};

function codesOf(kind) {
  return [...new Set(Object.values(ERRORS[kind]).flat())];
}

function errorSchema(kind) {
  return {
    title: `${kind}Error`,
    description: `${ERROR_SCHEMA_TEXT[kind]} Codes: ${codesOf(kind).map((c) => `\`${c}\``).join(', ')}.`,
    type: 'object',
    additionalProperties: false,
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: codesOf(kind) },
          message: ref('ErrorMessage'),
        },
      },
    },
  };
}

/** The headers of every JSON answer of the API (src/http.rs `public_headers`). */
const JSON_HEADERS = {
  'Cache-Control': { $ref: '#/components/headers/CacheControlNoStore' },
  Vary: { $ref: '#/components/headers/Vary' },
  'Access-Control-Allow-Origin': { $ref: '#/components/headers/AccessControlAllowOrigin' },
};

/** Error answers, by name (`<kind>Error<status>`), for components/responses. */
const errorResponseDefs = {};

/** The error answers of one kind of operation, by status: references to components/responses. */
function errorResponses(kind) {
  const out = {};
  for (const [status, codes] of Object.entries(ERRORS[kind])) {
    const name = `${kind}Error${status}`;
    out[status] = { $ref: `#/components/responses/${name}` };
    if (errorResponseDefs[name]) continue;
    const lines = codes.map((c) => `- \`${c}\`: ${CODE_TEXT[c]}.`).join('\n');
    errorResponseDefs[name] = {
      description: `${STATUS_TEXT[status]}:\n${lines}`,
      headers: { ...JSON_HEADERS },
      content: {
        'application/json': {
          schema: {
            $ref: `#/components/schemas/${kind}Error`,
            type: 'object',
            properties: { error: { type: 'object', properties: { code: { type: 'string', enum: codes } } } },
          },
          examples: Object.fromEntries(
            codes.map((c) => [c, { value: { error: { code: c, message: EXAMPLE_MESSAGES[c] } } }]),
          ),
        },
      },
    };
  }
  return out;
}

const EXAMPLE_MESSAGES = {
  bad_request: '"site" must be 1-64 characters of A-Z a-z 0-9 . _ : -.',
  bad_token: 'The token has expired.',
  unknown_site: 'The site "example.org" is not configured here.',
  forbidden_origin: 'This origin may not use this site.',
  bot: 'Automated clients are not counted.',
  entities_disabled: 'This site has no secret for entity tokens.',
  not_watchable: 'The token does not allow watching "user:7".',
  not_found: 'There is nothing at this path.',
  method_not_allowed: 'This path only answers GET.',
  too_large: 'The body must be at most 1024 bytes.',
  upgrade_required: 'This path only answers WebSocket upgrades.',
  rate_limited: 'Too many requests; slow down and try again shortly.',
  internal_error: 'Something went wrong on our side; try again.',
  site_full: 'This site has as many live sessions as it may hold; try again later.',
  too_many_sockets: 'This site has as many open sockets as it may hold; try again later.',
};

// ---------------------------------------------------------------------------------------------
// Schemas

const COUNT = { type: 'integer', minimum: 0, maximum: 4294967295 };

const schemas = {
  // ----- words
  SiteKey: {
    description: 'A configured site key: 1-64 characters of `A-Z a-z 0-9 . _ : -`.',
    type: 'string',
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9._:-]{1,64}$',
    examples: ['example.com'],
  },
  Room: {
    description:
      'Where on the site a session is, usually a path (`/pricing`) or a resource (`product:123`): 1-256 characters (Unicode code points), no control characters (U+0000-U+001F, U+007F-U+009F). Past `MAX_ROOMS` rooms, sessions are counted in the room `~other`.',
    type: 'string',
    minLength: 1,
    maxLength: 256,
    pattern: '^[^\\u0000-\\u001F\\u007F-\\u009F]*$',
    examples: ['/pricing', 'product:123'],
  },
  SessionId: {
    description: 'One tab or connection: a client-generated id of 8-64 characters of `A-Z a-z 0-9 _ -`.',
    type: 'string',
    minLength: 8,
    maxLength: 64,
    pattern: '^[A-Za-z0-9_-]{8,64}$',
    examples: ['s_7f3a9c1e'],
  },
  VisitorId: {
    description:
      'One browser: a client-generated id of 8-64 characters of `A-Z a-z 0-9 _ -` (stored hashed, never raw). A session without a visitor counts as its own visitor.',
    type: 'string',
    minLength: 8,
    maxLength: 64,
    pattern: '^[A-Za-z0-9_-]{8,64}$',
    examples: ['v_1b2c3d4e'],
  },
  EntityId: {
    description: 'A person or thing whose own status matters: 1-128 characters of `A-Z a-z 0-9 . _ : @ -`.',
    type: 'string',
    minLength: 1,
    maxLength: 128,
    pattern: '^[A-Za-z0-9._:@-]{1,128}$',
    examples: ['user:42', 'customer:conv_123'],
  },
  EpochMillis: {
    description: 'A time: milliseconds since the Unix epoch.',
    type: 'integer',
    format: 'int64',
    minimum: 0,
    examples: [1763800000000],
  },
  Jwt: {
    description:
      "An HS256 JWT signed with the site's secret (`secret_env`) by the site's own back end: a header (`alg` HS256, optional `kid` naming one of the site's secrets) and claims `site`, `sub`, `scope`, `exp` (at most 7 days ahead; `exp` and `nbf` get 30 s of leeway), optional `nbf` and `aud` (only the string `herenow`). At most 4096 bytes.",
    type: 'string',
    minLength: 1,
    maxLength: 4096,
    pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$',
  },

  // ----- counts
  Counts: {
    description: 'Live sessions, and the distinct visitors among them (`visitors` <= `sessions`).',
    type: 'object',
    additionalProperties: false,
    required: ['sessions', 'visitors'],
    properties: { sessions: COUNT, visitors: COUNT },
    examples: [{ sessions: 42, visitors: 40 }],
  },
  RoomCounts: {
    description: "One room's counts.",
    type: 'object',
    additionalProperties: false,
    required: ['room', 'sessions', 'visitors'],
    properties: { room: ref('Room'), sessions: COUNT, visitors: COUNT },
    examples: [{ room: '/pricing', sessions: 7, visitors: 7 }],
  },
  PingRoomCounts: {
    description:
      "The counts of the ping's room. When the site's room ceiling (`MAX_ROOMS`) put the session in the overflow room, `grouped_as` is `~other` and the counts are that room's.",
    type: 'object',
    additionalProperties: false,
    required: ['room', 'sessions', 'visitors'],
    properties: {
      room: ref('Room'),
      sessions: COUNT,
      visitors: COUNT,
      grouped_as: { const: '~other' },
    },
  },

  // ----- POST /v1/ping
  PingEvent: {
    description:
      '`join`; `heartbeat` (for an unknown session it is a join; it may carry a different `room`: the tab navigated); `leave` (for an unknown session it changes nothing); `away` (the page was hidden: the session stops counting at once; with an entity it stays that entity\'s session, as away, until a `heartbeat` or `join` makes it visible, a `leave` ends it, or it is silent for `AWAY_TTL_SECONDS`; without an entity it ends, as with `leave`).',
    type: 'string',
    enum: ['join', 'heartbeat', 'leave', 'away'],
  },
  PingRequest: {
    description:
      'A ping: at most 1 KiB of UTF-8 JSON, one object whose keys are unique (a repeated key is 400). A field that is `null` counts as absent; other fields are ignored. `entity` and `token` go together: `token` alone is 400, `entity` without a valid track token is 401 `bad_token`.',
    type: 'object',
    required: ['site', 'session', 'event'],
    properties: {
      site: ref('SiteKey'),
      room: { $ref: '#/components/schemas/Room', default: '/' },
      session: ref('SessionId'),
      visitor: ref('VisitorId'),
      event: ref('PingEvent'),
      entity: {
        $ref: '#/components/schemas/EntityId',
        description: 'The entity this session carries (needs a track `token` for it).',
      },
      token: {
        $ref: '#/components/schemas/Jwt',
        description:
          'A track token: claims `{"site":S,"sub":<entity>,"scope":"track","exp":..}`, optionally `"info"`: a JSON object of at most 512 bytes serialized (member info, set by the site\'s back end). Only with `entity`.',
      },
    },
    dependentRequired: { token: ['entity'], entity: ['token'] },
    examples: [{ site: 'example.com', room: '/pricing', session: 's_7f3a9c1e', visitor: 'v_1b2c3d4e', event: 'join' }],
  },
  PingAnswer: {
    description: 'The counts after the ping, and how often to heartbeat.',
    type: 'object',
    additionalProperties: false,
    required: ['site', 'room', 'heartbeat_ms', 'ttl_ms'],
    properties: {
      site: ref('Counts'),
      room: ref('PingRoomCounts'),
      heartbeat_ms: { description: 'How often to send a heartbeat (`PRESENCE_HEARTBEAT_SECONDS`).', type: 'integer', minimum: 0 },
      ttl_ms: { description: 'A session with no sign of life for this long is gone (`PRESENCE_TTL_SECONDS`).', type: 'integer', minimum: 0 },
    },
    examples: [
      {
        site: { sessions: 42, visitors: 40 },
        room: { room: '/pricing', sessions: 7, visitors: 7 },
        heartbeat_ms: 15000,
        ttl_ms: 45000,
      },
    ],
  },

  // ----- GET /v1/count, /v1/rooms
  CountAnswer: {
    description: "The site's counts, and the room's when the query named one.",
    type: 'object',
    additionalProperties: false,
    required: ['site'],
    properties: { site: ref('Counts'), room: ref('RoomCounts') },
    examples: [{ site: { sessions: 42, visitors: 40 }, room: { room: '/pricing', sessions: 7, visitors: 7 } }],
  },
  RoomsAnswer: {
    description: "The site's counts and its busiest rooms, busiest first (by sessions, then visitors, then name).",
    type: 'object',
    additionalProperties: false,
    required: ['site', 'rooms'],
    properties: {
      site: ref('Counts'),
      rooms: { type: 'array', maxItems: 1000, items: ref('RoomCounts') },
    },
    examples: [
      {
        site: { sessions: 5, visitors: 4 },
        rooms: [
          { room: '/', sessions: 3, visitors: 2 },
          { room: '/pricing', sessions: 2, visitors: 2 },
        ],
      },
    ],
  },

  // ----- GET /v1/history
  HistoryRange: { description: '`1h` (60 steps of 1 min), `24h` (288 of 5 min) or `7d` (168 of 1 h).', type: 'string', enum: ['1h', '24h', '7d'] },
  HistoryPoint: {
    description: "One step: its start (`t`, a multiple of `step_ms`) and the highest `sessions` and `visitors` seen during it (0 when nobody was there).",
    type: 'object',
    additionalProperties: false,
    required: ['t', 'sessions', 'visitors'],
    properties: { t: ref('EpochMillis'), sessions: COUNT, visitors: COUNT },
  },
  HistoryPeak: {
    description: 'The highest point of the range (most sessions, then most visitors, then the earliest), with its `t`.',
    type: 'object',
    additionalProperties: false,
    required: ['sessions', 'visitors', 't'],
    properties: { sessions: COUNT, visitors: COUNT, t: ref('EpochMillis') },
  },
  HistoryAnswer: {
    description:
      "The site's counts over time: `points` run oldest first and end with the step that holds now; `peak` is `null` when every point is 0.",
    type: 'object',
    additionalProperties: false,
    required: ['site', 'range', 'step_ms', 'points', 'peak'],
    properties: {
      site: ref('SiteKey'),
      range: ref('HistoryRange'),
      step_ms: { type: 'integer', enum: [60000, 300000, 3600000] },
      points: { type: 'array', items: ref('HistoryPoint') },
      peak: nullable(ref('HistoryPeak')),
    },
    oneOf: [
      ['1h', 60000, 60],
      ['24h', 300000, 288],
      ['7d', 3600000, 168],
    ].map(([range, step, n]) => ({
      type: 'object',
      properties: {
        range: { const: range },
        step_ms: { const: step },
        points: {
          type: 'array',
          minItems: n,
          maxItems: n,
          items: { type: 'object', properties: { t: { type: 'integer', multipleOf: step } } },
        },
        peak: { anyOf: [{ type: 'null' }, { type: 'object', properties: { t: { type: 'integer', multipleOf: step } } }] },
      },
    })),
    examples: [
      {
        site: 'example.com',
        range: '1h',
        step_ms: 60000,
        points: [{ t: 1763800000000 - (1763800000000 % 60000), sessions: 12, visitors: 9 }],
        peak: { sessions: 40, visitors: 31, t: 1763800020000 },
      },
    ],
  },

  // ----- entities
  EntityState: {
    description: '`online`: some session of the entity is visible; `away`: it has sessions, none visible; `offline`: none (after `LEAVE_GRACE_MS`).',
    type: 'string',
    enum: ['online', 'away', 'offline'],
  },
  MemberInfo: {
    description:
      "Member info: the JSON object (at most 512 bytes serialized) the entity's track token carries as `info`, set by the site's back end, e.g. `{\"name\":\"Ada\",\"avatar\":\"https://...\"}`.",
    type: 'object',
    examples: [{ name: 'Ada', avatar: 'https://example.com/ada.png' }],
  },
  EntityStatusRules: {
    description:
      'What ties the fields of a status together: `offline` has `online` false, 0 sessions and `online_since` null; `online` and `away` have `online` true, at least one session, and both times.',
    type: 'object',
    if: { type: 'object', properties: { state: { const: 'offline' } } },
    then: { type: 'object', properties: { online: { const: false }, sessions: { const: 0 }, online_since: { type: 'null' } } },
    else: {
      type: 'object',
      properties: {
        online: { const: true },
        sessions: { type: 'integer', minimum: 1 },
        online_since: { type: 'integer' },
        last_seen: { type: 'integer' },
      },
    },
  },
  EntityStatus: {
    description: "What a watcher sees of an entity.",
    type: 'object',
    additionalProperties: false,
    required: ['online', 'state', 'sessions', 'last_seen', 'online_since', 'info'],
    properties: {
      online: { description: '`true` when `state` is `online` or `away`.', type: 'boolean' },
      state: ref('EntityState'),
      sessions: { description: 'Its live sessions (tabs, devices), away ones included.', ...COUNT },
      last_seen: {
        description: 'The last sign of life (kept across restarts); `null` when never seen.',
        ...nullable(ref('EpochMillis')),
      },
      online_since: {
        description: 'When the current online-or-away period began (a reload inside the grace does not restart it); `null` when offline.',
        ...nullable(ref('EpochMillis')),
      },
      info: nullable(ref('MemberInfo')),
    },
    allOf: [ref('EntityStatusRules')],
    examples: [
      { online: true, state: 'online', sessions: 2, last_seen: 1763800000000, online_since: 1763799000000, info: { name: 'Ada' } },
      { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null },
    ],
  },
  StatusAnswer: {
    description: 'The status of each entity asked for, by id.',
    type: 'object',
    additionalProperties: false,
    required: ['entities'],
    properties: {
      entities: {
        type: 'object',
        minProperties: 1,
        maxProperties: 100,
        propertyNames: ref('EntityId'),
        additionalProperties: ref('EntityStatus'),
      },
    },
    examples: [
      {
        entities: {
          'user:42': { online: true, state: 'online', sessions: 2, last_seen: 1763800000000, online_since: 1763799000000, info: null },
          'user:7': { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null },
        },
      },
    ],
  },
  Member: {
    description: 'An entity with a live session in the room.',
    type: 'object',
    additionalProperties: false,
    required: ['entity', 'state', 'sessions', 'online_since', 'info'],
    properties: {
      entity: ref('EntityId'),
      state: { description: 'In this room: `online` (a visible session here) or `away`.', type: 'string', enum: ['online', 'away'] },
      sessions: { description: 'Its sessions in this room.', type: 'integer', minimum: 1, maximum: 4294967295 },
      online_since: ref('EpochMillis'),
      info: nullable(ref('MemberInfo')),
    },
  },
  MembersAnswer: {
    description:
      'Who is in a room: the entities with a live session in it, earliest `online_since` first, at most 1,000 (then `truncated` is `true`), and the sessions in it without an entity.',
    type: 'object',
    additionalProperties: false,
    required: ['room', 'members', 'anonymous'],
    properties: {
      room: ref('Room'),
      members: { type: 'array', maxItems: 1000, items: ref('Member') },
      anonymous: ref('Counts'),
      truncated: { description: 'Present (and `true`) only when more than 1,000 members were cut.', const: true },
    },
    examples: [
      {
        room: '/docs',
        members: [{ entity: 'user:42', state: 'online', sessions: 1, online_since: 1763800000000, info: { name: 'Ada' } }],
        anonymous: { sessions: 3, visitors: 2 },
      },
    ],
  },

  // ----- GET /v1/live: the socket's messages
  CountMessage: {
    description:
      "Server -> client (JSON text frame): the counts of the site (and of the room the socket named), at once on open and then whenever they change, at most one per `BROADCAST_INTERVAL_MS` (a change after a quiet interval goes out at once). The first one also carries `heartbeat_ms` and `ttl_ms`.",
    type: 'object',
    additionalProperties: false,
    required: ['type', 'site'],
    properties: {
      type: { const: 'count' },
      site: ref('Counts'),
      room: ref('RoomCounts'),
      heartbeat_ms: { description: 'How often to send `ping` (first message only).', type: 'integer', minimum: 0 },
      ttl_ms: { description: 'How long a silent session lives (first message only).', type: 'integer', minimum: 0 },
    },
    dependentRequired: { heartbeat_ms: ['ttl_ms'], ttl_ms: ['heartbeat_ms'] },
    examples: [
      { type: 'count', site: { sessions: 42, visitors: 40 }, room: { room: '/pricing', sessions: 7, visitors: 7 }, heartbeat_ms: 15000, ttl_ms: 45000 },
    ],
  },
  StatusMessage: {
    description:
      'Server -> client (JSON text frame), on a socket opened with `watch`: the status of each watched entity on open, then one on every change of what a watcher sees (a drop shows only after `LEAVE_GRACE_MS`).',
    type: 'object',
    additionalProperties: false,
    required: ['type', 'entity', 'online', 'state', 'sessions', 'last_seen', 'online_since', 'info'],
    properties: {
      type: { const: 'status' },
      entity: ref('EntityId'),
      online: { type: 'boolean' },
      state: ref('EntityState'),
      sessions: COUNT,
      last_seen: nullable(ref('EpochMillis')),
      online_since: nullable(ref('EpochMillis')),
      info: nullable(ref('MemberInfo')),
    },
    allOf: [ref('EntityStatusRules')],
    examples: [
      { type: 'status', entity: 'user:42', online: true, state: 'online', sessions: 1, last_seen: 1763800000000, online_since: 1763800000000, info: null },
    ],
  },
  MembersMessage: {
    description:
      'Server -> client (JSON text frame), on a socket opened with `members`: the members of that room (the `GET /v1/members` answer plus `type`) on open, then on every change.',
    type: 'object',
    additionalProperties: false,
    required: ['type', 'room', 'members', 'anonymous'],
    properties: {
      type: { const: 'members' },
      room: ref('Room'),
      members: { type: 'array', maxItems: 1000, items: ref('Member') },
      anonymous: ref('Counts'),
      truncated: { const: true },
    },
  },
  PongMessage: {
    description:
      'Server -> client (plain text frame, not JSON): `pong`, the answer to a `ping` (answered by the runtime without waking the Durable Object).',
    type: 'string',
    const: 'pong',
  },
  LiveServerMessage: {
    description:
      'Any message the server sends on a `/v1/live` socket: a JSON text frame (parsed: `count`, `status` or `members`, told apart by `type`) or the plain text `pong`.',
    oneOf: [ref('CountMessage'), ref('StatusMessage'), ref('MembersMessage'), ref('PongMessage')],
  },
  PingText: {
    description: 'Client -> server (text frame): `ping`, every `heartbeat_ms`; a sign of life that keeps the socket\'s session live. Answered with `pong`.',
    type: 'string',
    const: 'ping',
  },
  AwayText: {
    description:
      "Client -> server (text frame), on a socket that carries a session: `away`, the page was hidden. The session stops counting at once; with an entity it stays that entity's session, as away, until `back`; without one it ends.",
    type: 'string',
    const: 'away',
  },
  BackText: {
    description: 'Client -> server (text frame): `back`, the page is visible again (the session counts again).',
    type: 'string',
    const: 'back',
  },
  LiveClientMessage: {
    description:
      'What a client sends on a `/v1/live` socket: text frames `ping`, `away` or `back` (read case-insensitively, surrounding spaces ignored; any other message is only a sign of life). A message over 1 KiB closes the socket with 1009.',
    oneOf: [ref('PingText'), ref('AwayText'), ref('BackText')],
  },

  // ----- webhooks
  WebhookEvent: {
    description:
      "One webhook delivery: an entity's shown state changed. Delivered at least once, in order per entity, retried with growing delays for at least 24 hours; deduplicate by `id`.",
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'site', 'at', 'entity', 'status'],
    properties: {
      id: { description: 'Unique per event (the same across retries).', type: 'string', minLength: 1 },
      type: { type: 'string', enum: ['entity.online', 'entity.away', 'entity.offline'] },
      site: ref('SiteKey'),
      at: ref('EpochMillis'),
      entity: ref('EntityId'),
      status: ref('EntityStatus'),
    },
  },

  // ----- errors
  ErrorCode: {
    description: 'Every error code of the API, with its status: ' +
      Object.entries(ERROR_CODES).map(([c, s]) => `\`${c}\` ${s}`).join(', ') + '.',
    type: 'string',
    enum: Object.keys(ERROR_CODES),
  },
  ErrorMessage: { description: 'One sentence for a person.', type: 'string', minLength: 1 },
  Error: {
    description: 'Every error answer: `{"error":{"code":"<snake_case>","message":"<one sentence for a person>"}}`.',
    type: 'object',
    additionalProperties: false,
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'message'],
        properties: { code: ref('ErrorCode'), message: ref('ErrorMessage') },
      },
    },
  },
  OpenApiDocument: {
    description: 'This document: OpenAPI 3.1.',
    type: 'object',
    required: ['openapi', 'info', 'paths'],
    properties: { openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' }, info: { type: 'object' }, paths: { type: 'object' } },
  },
};
for (const kind of Object.keys(ERRORS)) schemas[`${kind}Error`] = errorSchema(kind);

// ---------------------------------------------------------------------------------------------
// Parameters

const param = (name, schema, description, extra = {}) => ({ name, in: 'query', description, schema, ...extra });

const parameters = {
  site: param('site', ref('SiteKey'), 'The site key.', { required: true, example: 'example.com' }),
  room: param('room', ref('Room'), "A room: its counts are answered too.", { example: '/pricing' }),
  membersRoom: param('room', ref('Room'), 'The room whose members are answered; the watch token\'s `rooms` must allow it (exact rooms, or prefixes ending in `*`).', {
    required: true,
    example: '/docs',
  }),
  limit: param(
    'limit',
    { type: 'integer', minimum: 1, default: 20 },
    'How many rooms at most: a whole number (digits only) of at least 1; larger values are clamped to 1000.',
    { example: 20 },
  ),
  range: param('range', { $ref: '#/components/schemas/HistoryRange', default: '1h' }, 'The range; anything but `1h`, `24h` or `7d` is 400.'),
  statusEntities: param(
    'entity',
    { type: 'array', minItems: 1, maxItems: 100, items: ref('EntityId') },
    'The entities, comma-separated (`user:42,user:7`): 1 to 100 distinct ids (a repeated id is dropped before counting; spaces around an id are ignored). Each must be allowed by the token\'s `watch` list (exact ids, or prefixes ending in `*`), else 403 `not_watchable`.',
    { required: true, style: 'form', explode: false, example: ['user:42', 'user:7'] },
  ),
  liveRoom: param(
    'room',
    ref('Room'),
    "The room whose counts the socket receives besides the site's; with `session`, also the session's room (default `/`).",
    { example: '/pricing' },
  ),
  session: param(
    'session',
    ref('SessionId'),
    'Makes the socket itself a live session in `room`: no HTTP heartbeats are needed. It ends when the socket closes cleanly (1000, 1001), or when no `ping` has arrived for `ttl`. A session id seen both over HTTP and over a socket counts once.',
  ),
  visitor: param('visitor', ref('VisitorId'), 'The visitor of `session` (only with `session`, else 400).'),
  liveEntity: param(
    'entity',
    ref('EntityId'),
    "The entity the socket's session carries: only with `session`, and with a track token in `token`. Not together with `watch` or `members`.",
  ),
  watch: param(
    'watch',
    { type: 'array', minItems: 1, maxItems: 100, items: ref('EntityId') },
    "Entities whose `status` messages the socket receives, comma-separated: 1 to 100 distinct ids, each allowed by the watch token's `watch` list (else 403 `not_watchable`). Needs a watch token in `token`.",
    { style: 'form', explode: false },
  ),
  members: param(
    'members',
    ref('Room'),
    "A room whose `members` messages the socket receives; the watch token's `rooms` must allow it (else 403 `not_watchable`). Needs a watch token in `token`.",
  ),
  label: param(
    'label',
    { type: 'string', default: 'online now' },
    'The badge\'s label: shown as text (escaped, never markup); control characters are dropped, surrounding spaces trimmed, and past 48 characters it is cut with `…`.',
  ),
  upgrade: {
    name: 'Upgrade',
    in: 'header',
    required: true,
    description: 'A WebSocket upgrade (`websocket`, any case) with the usual `Connection: Upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`. Without it the answer is 426 `upgrade_required`.',
    schema: { type: 'string', examples: ['websocket'] },
  },
};
const P = (name) => ({ $ref: `#/components/parameters/${name}` });

// ---------------------------------------------------------------------------------------------
// Operations

const json = (schemaName, description, extra = {}) => ({
  description,
  headers: { ...JSON_HEADERS },
  content: { 'application/json': { schema: ref(schemaName) } },
  ...extra,
});

const PREFLIGHT_TEXT =
  "The CORS preflight a browser sends before a request it may not send directly (a JSON ping, a request with `Authorization`). A `site` named in the query must be configured (else 403 `unknown_site`, with or without an `Origin`) and allow the page's `Origin` (else 403 `forbidden_origin`); without `site` in the query, some configured site must allow it (else 403 `forbidden_origin`).";

function preflight(id, pathName) {
  return {
    operationId: id,
    tags: ['CORS'],
    summary: `CORS preflight of ${pathName}`,
    description: PREFLIGHT_TEXT,
    security: [],
    parameters: [
      {
        name: 'site',
        in: 'query',
        description: "The site whose origins decide (pings name it in the body: then any configured site's origins do).",
        schema: { type: 'string' },
      },
    ],
    responses: {
      204: { $ref: '#/components/responses/Preflight' },
      ...errorResponses('Preflight'),
    },
  };
}

const otherMethods = (allow) => ({
  400: errorResponses('OtherMethod')[400],
  405: { $ref: `#/components/responses/MethodNotAllowed${allow}` },
  500: errorResponses('OtherMethod')[500],
});

const getOp = (op) => ({ ...op, 'x-herenow-head': true });

const paths = {
  '/v1/ping': {
    summary: 'Report a session: join, heartbeat, leave or away',
    description: 'Answers `POST` (and the CORS preflight); any other method is 405 `method_not_allowed` with `Allow: POST, OPTIONS`.',
    post: {
      operationId: 'ping',
      tags: ['Presence'],
      summary: 'Join, heartbeat, leave or away',
      description:
        "Reports a session's event. The body is JSON, sent as `application/json` or `text/plain` (so that `navigator.sendBeacon` works; no `Content-Type` is accepted too; any other is 400), at most 1 KiB (413 `too_large`). A heartbeat for an unknown session is a join; a leave for an unknown session changes nothing; a heartbeat may carry a different `room`. Heartbeats write nothing to storage. With `entity` and a track `token`, the session carries that entity (see `GET /v1/status`).\n\nThe checks run in order: the body (413, 400), the site (403 `unknown_site`, `forbidden_origin`), entities (403 `entities_disabled`), bots (403 `bot`), the token (401 `bad_token`), the rate limit (429), the site's ceiling (503 `site_full`). A rejected request changes no count.",
      security: [],
      requestBody: {
        required: true,
        description: 'The ping, as JSON.',
        content: {
          'application/json': { schema: ref('PingRequest') },
          'text/plain': {
            schema: {
              type: 'string',
              contentMediaType: 'application/json',
              contentSchema: ref('PingRequest'),
            },
          },
        },
      },
      responses: {
        200: json('PingAnswer', 'The counts of the site and of the ping\'s room, after the ping.'),
        ...errorResponses('Ping'),
      },
    },
    options: preflight('preflightPing', '`POST /v1/ping`'),
    'x-herenow-other-methods': otherMethods('Post'),
  },
  '/v1/count': {
    summary: 'Live counts of a site (and a room)',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getCount',
      tags: ['Presence'],
      summary: 'Sessions and visitors of a site, and of a room',
      description: 'Public (no token, even for sites with private stats). `room` in the answer only when the query names one.',
      security: [],
      parameters: [P('site'), P('room')],
      responses: { 200: json('CountAnswer', 'The counts.'), ...errorResponses('Count') },
    }),
    options: preflight('preflightCount', '`GET /v1/count`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/rooms': {
    summary: 'The busiest rooms of a site',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'listRooms',
      tags: ['Presence'],
      summary: 'The busiest rooms, busiest first',
      description:
        'The site\'s counts and its rooms with live sessions, busiest first, at most `limit` (default 20, at most 1000). A site with `"private_stats": true` answers only with a stats token (`Authorization: Bearer`), else 401 `bad_token`.',
      security: [{}, { statsToken: [] }],
      parameters: [P('site'), P('limit')],
      responses: { 200: json('RoomsAnswer', 'The rooms.'), ...errorResponses('Stats') },
    }),
    options: preflight('preflightRooms', '`GET /v1/rooms`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/history': {
    summary: "A site's counts over time",
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getHistory',
      tags: ['Stats'],
      summary: 'Counts over the last hour, day or week, with the peak',
      description:
        'Steps: `1h` 60,000 ms (60 points), `24h` 300,000 ms (288 points), `7d` 3,600,000 ms (168 points); each point holds the highest `sessions` and `visitors` of its step; `peak` is the highest point (`null` when all are 0). History survives restarts and covers at least 7 days. A site with `"private_stats": true` answers only with a stats token, else 401 `bad_token`.',
      security: [{}, { statsToken: [] }],
      parameters: [P('site'), P('range')],
      responses: { 200: json('HistoryAnswer', 'The history.'), ...errorResponses('Stats') },
    }),
    options: preflight('preflightHistory', '`GET /v1/history`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/status': {
    summary: 'Who is online: the status of entities',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getStatus',
      tags: ['Entities'],
      summary: 'Online, away or offline, with last seen',
      description:
        'Needs a watch token (`Authorization: Bearer`) whose `watch` list allows every entity asked for. An entity is online while any of its sessions is visible, away while it has sessions but none visible, and offline only `LEAVE_GRACE_MS` after its last session ended with no new one (so a reload never flaps). A site without `secret_env` answers 403 `entities_disabled`.',
      security: [{ watchToken: [] }],
      parameters: [P('site'), P('statusEntities')],
      responses: { 200: json('StatusAnswer', 'The statuses.'), ...errorResponses('Watch') },
    }),
    options: preflight('preflightStatus', '`GET /v1/status`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/members': {
    summary: 'Who is in a room, with faces',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getMembers',
      tags: ['Entities'],
      summary: 'The entities in a room, with their member info',
      description:
        'Needs a watch token whose `rooms` list allows the room (exact rooms, or prefixes ending in `*`), else 403 `not_watchable`. A site without `secret_env` answers 403 `entities_disabled`.',
      security: [{ watchToken: [] }],
      parameters: [P('site'), P('membersRoom')],
      responses: { 200: json('MembersAnswer', 'The members.'), ...errorResponses('Watch') },
    }),
    options: preflight('preflightMembers', '`GET /v1/members`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/live': {
    summary: 'Live counts, statuses and members over a WebSocket',
    description:
      'Answers only `GET` with a WebSocket upgrade (and the CORS preflight): a `GET` without one is 426 `upgrade_required`; any other method, `HEAD` included, is 405 with `Allow: GET, OPTIONS`.',
    get: {
      operationId: 'openLive',
      tags: ['Live'],
      summary: 'Open a live socket',
      description: [
        'A WebSocket. Messages (schemas under `components/schemas`, and in `x-herenow-socket`):',
        '',
        '- server -> client: [`CountMessage`](#/components/schemas/CountMessage) at once on open (with `heartbeat_ms` and `ttl_ms`) and whenever the counts change, throttled by `BROADCAST_INTERVAL_MS`; with `watch`, a [`StatusMessage`](#/components/schemas/StatusMessage) per entity on open and on every change; with `members`, a [`MembersMessage`](#/components/schemas/MembersMessage) on open and on every change; [`PongMessage`](#/components/schemas/PongMessage) (the text `pong`) for each `ping`.',
        '- client -> server: [`PingText`](#/components/schemas/PingText) (`ping`) every heartbeat; on a socket that carries a session, [`AwayText`](#/components/schemas/AwayText) (`away`) when the page is hidden and [`BackText`](#/components/schemas/BackText) (`back`) when it is shown again.',
        '',
        'With `session`, the socket is itself a live session in `room` (no HTTP heartbeats needed), ending when the socket closes cleanly (1000, 1001: at once, even if the session also sent HTTP heartbeats) or when no `ping` has arrived for `ttl` (the server then closes it with 1001); an abnormal close (1006) leaves any HTTP hold to run out. A plain subscriber that never pings is closed after at least 10 minutes. A message over 1 KiB closes the socket with 1009.',
        '',
        'Tokens go in the query (`token`): a track token with `entity`, a watch token with `watch` or `members`. The checks run in order: the upgrade (426), the query (400), the site (403 `unknown_site`, `forbidden_origin`), entities (403 `entities_disabled`), bots when the socket carries a session (403 `bot`), the token (401, 403 `not_watchable`), the rate limit (429), the site\'s ceilings (503 `site_full`, `too_many_sockets`). A refused upgrade is an HTTP answer with the usual JSON error.',
      ].join('\n'),
      security: [{}, { trackTokenQuery: [] }, { watchTokenQuery: [] }],
      parameters: [
        P('site'),
        P('liveRoom'),
        P('session'),
        P('visitor'),
        P('liveEntity'),
        P('watch'),
        P('members'),
        P('upgrade'),
      ],
      responses: {
        101: {
          description: 'Switching Protocols: the socket is open; the first `count` message follows at once.',
          headers: {
            Upgrade: { required: true, schema: { type: 'string', pattern: '^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$' } },
            Connection: { required: true, schema: { type: 'string', pattern: '[Uu][Pp][Gg][Rr][Aa][Dd][Ee]' } },
            'Sec-WebSocket-Accept': { required: true, schema: { type: 'string', minLength: 1 } },
          },
        },
        ...errorResponses('Live'),
      },
      'x-herenow-socket': {
        subprotocols: [],
        serverMessages: ref('LiveServerMessage'),
        clientMessages: ref('LiveClientMessage'),
        closeCodes: {
          1000: 'closed (the server completes a close the client began)',
          1001: 'the session fell silent: no `ping` for `ttl` (or, for a plain subscriber, for 10 minutes or 20 `ttl`)',
          1009: 'a message over 1 KiB',
          1011: 'the socket lost its state in a restart',
        },
      },
    },
    options: preflight('preflightLive', '`GET /v1/live`'),
    'x-herenow-other-methods': otherMethods('Upgrade'),
  },
  '/v1/badge.svg': {
    summary: 'An "online now | 42" badge',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getBadge',
      tags: ['Developer'],
      summary: 'An SVG badge of the live count',
      description:
        'For pages without JavaScript, READMEs and e-mails: the sessions of the site (or of `room`), as 999, then 1.2k, 12k, 1.2M; green while someone is there, grey otherwise. Cached at most 10 s. Errors are JSON.',
      security: [],
      parameters: [P('site'), P('room'), P('label')],
      responses: {
        200: {
          description: 'The badge.',
          headers: {
            'Cache-Control': { required: true, description: 'At most 10 s.', schema: { const: 'public, max-age=10' } },
            'Access-Control-Allow-Origin': { required: true, schema: { const: '*' } },
            'X-Content-Type-Options': { schema: { const: 'nosniff' } },
            'Content-Security-Policy': { schema: { type: 'string' } },
          },
          content: { 'image/svg+xml': { schema: { type: 'string', pattern: '^<svg [\\s\\S]*</svg>$' } } },
        },
        ...errorResponses('Badge'),
      },
    }),
    options: preflight('preflightBadge', '`GET /v1/badge.svg`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/openapi.json': {
    summary: 'This document',
    description: 'Answers `GET` and `HEAD` (and the CORS preflight); any other method is 405 with `Allow: GET, HEAD, OPTIONS`.',
    get: getOp({
      operationId: 'getOpenApi',
      tags: ['Developer'],
      summary: 'The OpenAPI 3.1 document of this API',
      description: 'Any origin may read it (`Access-Control-Allow-Origin: *`); cached for 5 minutes.',
      security: [],
      responses: {
        200: {
          description: 'The document.',
          headers: {
            'Cache-Control': { required: true, schema: { const: 'public, max-age=300' } },
            'Access-Control-Allow-Origin': { required: true, schema: { const: '*' } },
          },
          content: { 'application/json': { schema: ref('OpenApiDocument') } },
        },
        ...errorResponses('OpenApi'),
      },
    }),
    options: preflight('preflightOpenApi', '`GET /v1/openapi.json`'),
    'x-herenow-other-methods': otherMethods('Get'),
  },
  '/v1/{unknown}': {
    summary: 'Any other path under /v1',
    description:
      'Every path under `/v1` that is not listed above (`/v1` and `/v1/` themselves, deeper paths such as `/v1/ping/extra`, and any method but `OPTIONS`) answers 404 `not_found`. `OPTIONS` is the CORS preflight, as everywhere.',
    parameters: [
      { name: 'unknown', in: 'path', required: true, description: 'Any path not listed above.', schema: { type: 'string' } },
    ],
    get: getOp({
      operationId: 'unknownPath',
      tags: ['Errors'],
      summary: 'Not found',
      security: [],
      responses: { ...errorResponses('UnknownPath') },
    }),
    options: preflight('preflightUnknown', 'any path'),
    'x-herenow-other-methods': errorResponses('UnknownPath'),
  },
};

// ---------------------------------------------------------------------------------------------
// The document

const DESCRIPTION = `Live presence at the edge: who is here right now, on Cloudflare Workers and Durable Objects.

Pages report their sessions (\`POST /v1/ping\`, or a \`/v1/live\` socket that carries a session); anyone may read a site's live counts (\`/v1/count\`, \`/v1/rooms\`, \`/v1/live\`, \`/v1/badge.svg\`); holders of tokens issued by the site's own back end see entities ("who is online": \`/v1/status\`, \`/v1/members\`, watching sockets) and, for sites with private stats, the rooms and the history.

**Words.** A *site* is a configured key (1-64 of \`A-Z a-z 0-9 . _ : -\`). A *room* is where on the site a session is (1-256 characters, no control characters, default \`/\`). A *session* is one tab or connection (8-64 of \`A-Z a-z 0-9 _ -\`, client-generated); a *visitor* is one browser (same charset; a session without one counts as its own visitor). \`sessions\` and \`visitors\` are the live sessions and the distinct visitors among them. A session is live from its join until its leave, its socket's close, or \`ttl\` without a sign of life. Past \`MAX_ROOMS\` rooms, sessions are counted in the room \`~other\`.

**Requests.** Query strings are percent-encoded UTF-8; a repeated parameter is 400. Requests for a site that is not configured are 403 \`unknown_site\`; a request whose \`Origin\` is not among the site's origins is 403 \`forbidden_origin\` (a request without \`Origin\`, from a server, is allowed). Answers carry \`Access-Control-Allow-Origin\` for the page that asked (errors too, so a page can read why it was refused). Pings and session sockets from an obvious bot's \`User-Agent\` are 403 \`bot\` and count nothing.

**Answers.** All answers are JSON (\`Cache-Control: no-store\`) except the badge (SVG), the 101 of a socket and the 204 of a preflight. Errors are \`{"error":{"code":"<snake_case>","message":"<one sentence for a person>"}}\`: 400 \`bad_request\`, 401 \`bad_token\`, 403 \`unknown_site\` / \`forbidden_origin\` / \`bot\` / \`entities_disabled\` / \`not_watchable\`, 404 \`not_found\` (an unknown \`/v1/...\` path), 405 \`method_not_allowed\` (with \`Allow\`), 413 \`too_large\`, 426 \`upgrade_required\`, 429 \`rate_limited\`, 500 \`internal_error\`, 503 \`site_full\` / \`too_many_sockets\`. Each operation lists the codes it can answer, by status. A rejected request changes no count.

**Timing.** A join, a leave and a clean socket close reach every subscribed socket within \`BROADCAST_INTERVAL_MS\` (default 500) + 250 ms; a session that dies silently stops counting within \`ttl\` (default 45 s) + 2 s. Heartbeats write nothing to storage.

**Tokens.** HS256 JWTs signed with the site's secret (\`secret_env\`, which may list several secrets, newest first, for rotation; a header \`kid\` picks one by name). Claims \`site\`, \`sub\`, \`scope\` and \`exp\` (at most 7 days ahead; \`exp\` and \`nbf\` get 30 s of leeway); \`aud\`, when present, must be the string \`herenow\`. A *track* token (\`"scope":"track"\`, \`sub\` the entity, optional \`info\` object of at most 512 bytes) lets a session carry that entity; a *watch* token (\`"scope":"watch"\`, \`watch\` and \`rooms\` lists of exact ids or prefixes ending in \`*\`) lets its holder read those entities and rooms; a *stats* token (\`"scope":"stats"\`) opens the rooms and history of a site with private stats. Entities are never exposed without a token.

**Conventions of this document.** Every \`GET\` operation marked \`x-herenow-head\` also answers \`HEAD\` (same status and headers, no body). \`x-herenow-other-methods\` on a path gives the answers of any method the path does not list (405 with \`Allow\`). \`/v1/{unknown}\` stands for every path under \`/v1\` not listed (404). \`x-herenow-socket\` on \`GET /v1/live\` names the socket's message schemas. \`webhooks\` describes the POSTs a site's back end receives when it configures \`webhook\`.`;

export function buildDocument() {
  // the 405 of other methods carries its own `Allow` (MethodNotAllowedGet / Post / Upgrade)
  delete errorResponseDefs.OtherMethodError405;
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'herenow',
      version: '1.0.0',
      summary: 'Live presence at the edge: who is here right now.',
      description: DESCRIPTION,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'The Worker that serves this document.' }],
    tags: [
      { name: 'Presence', description: 'Sessions and live counts.' },
      { name: 'Stats', description: 'History, for the owner\'s dashboard.' },
      { name: 'Entities', description: 'Who is online: private presence, with tokens.' },
      { name: 'Live', description: 'The WebSocket feed.' },
      { name: 'Developer', description: 'The badge and this document.' },
      { name: 'CORS', description: 'Preflights.' },
      { name: 'Errors', description: 'Paths the API does not have.' },
    ],
    paths,
    webhooks: Object.fromEntries(
      ['entity.online', 'entity.away', 'entity.offline'].map((type) => [
        type,
        {
          post: {
            operationId: `webhook_${type.replace('.', '_')}`,
            tags: ['Entities'],
            summary: `The site's back end is told: ${type}`,
            description: {
              'entity.online': 'An entity came online (not when a reload inside the grace brings it back).',
              'entity.away': 'Its last visible session went away.',
              'entity.offline': 'The grace has passed with no session.',
            }[type] + ' Sent to the site\'s `webhook.url` (`https://`, or `http://127.0.0.1` / `http://localhost` for local testing) when the site subscribes to the event.',
            security: [],
            parameters: [
              {
                name: 'Herenow-Signature',
                in: 'header',
                required: true,
                description: '`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, signed with the first of the site\'s secrets.',
                schema: { type: 'string', pattern: '^t=[0-9]+,v1=[0-9a-f]{64}$' },
              },
            ],
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: {
                    $ref: '#/components/schemas/WebhookEvent',
                    type: 'object',
                    properties: { type: { const: type } },
                  },
                },
              },
            },
            responses: {
              '2XX': { description: 'Delivered.' },
              default: { description: 'Any other answer (or a network error) is retried with growing delays for at least 24 hours.' },
            },
          },
        },
      ]),
    ),
    components: {
      schemas,
      parameters,
      headers: {
        CacheControlNoStore: { required: true, description: 'API answers are never cached.', schema: { const: 'no-store' } },
        Vary: { description: '`Origin`.', schema: { type: 'string' } },
        AccessControlAllowOrigin: {
          description: "The request's `Origin`, echoed (when given and at most 255 characters).",
          schema: { type: 'string' },
        },
      },
      responses: {
        Preflight: {
          description: 'The preflight is allowed.',
          headers: {
            'Access-Control-Allow-Methods': { required: true, schema: { const: 'GET, POST, OPTIONS' } },
            'Access-Control-Allow-Headers': { required: true, schema: { const: 'Content-Type, Authorization' } },
            'Access-Control-Max-Age': { required: true, schema: { const: '86400' } },
            'Access-Control-Allow-Origin': { $ref: '#/components/headers/AccessControlAllowOrigin' },
            Vary: { $ref: '#/components/headers/Vary' },
          },
        },
        ...errorResponseDefs,
        MethodNotAllowedGet: methodNotAllowed('GET, HEAD, OPTIONS', 'GET'),
        MethodNotAllowedPost: methodNotAllowed('POST, OPTIONS', 'POST'),
        MethodNotAllowedUpgrade: methodNotAllowed('GET, OPTIONS', 'GET'),
      },
      securitySchemes: {
        watchToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A watch token: `{"site":S,"sub":"agent:7","scope":"watch","watch":["user:42","customer:*"],"rooms":["/docs/*","support"],"exp":...}`, HS256 with the site\'s secret.',
        },
        statsToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A stats token, for sites with `"private_stats": true`: `{"site":S,"sub":"owner","scope":"stats","exp":...}`, HS256 with the site\'s secret.',
        },
        trackTokenQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'A track token for the socket\'s `entity`: `{"site":S,"sub":"user:42","scope":"track","exp":...}` (optionally `info`).',
        },
        watchTokenQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'A watch token for the socket\'s `watch` entities and `members` room (see `watchToken`).',
        },
      },
    },
    'x-herenow-unknown-paths': '/v1/{unknown}',
  };
}

function methodNotAllowed(allow, only) {
  return {
    description: `The path only answers ${only}: \`method_not_allowed\`, with \`Allow: ${allow}\`.`,
    headers: {
      Allow: { required: true, description: 'The methods the path answers.', schema: { const: allow } },
      ...JSON_HEADERS,
    },
    content: {
      'application/json': {
        schema: {
          $ref: '#/components/schemas/OtherMethodError',
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { const: 'method_not_allowed' } } } },
        },
        examples: { method_not_allowed: { value: { error: { code: 'method_not_allowed', message: `This path only answers ${only}.` } } } },
      },
    },
  };
}

export function documentText() {
  return `${JSON.stringify(buildDocument(), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = documentText();
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(OPENAPI_FILE) ? fs.readFileSync(OPENAPI_FILE, 'utf8') : '';
    if (current !== text) {
      console.error('public/openapi.json is out of date: run `node scripts/openapi.mjs`');
      process.exit(1);
    }
  } else {
    fs.writeFileSync(OPENAPI_FILE, text);
    console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)} (${text.length} bytes)`);
  }
}
