#!/usr/bin/env node
// Mints a token for local use: an HS256 JWT signed with a site's secret, as a site's own back end
// would issue it (see "Entities" and "History, peaks and the owner's dashboard" in the contract).
// No dependencies: node:crypto only.
//
//   npm run token -- --sub customer:conv_123 --scope track
//   npm run token -- --sub agent:demo --scope watch --watch 'customer:*,user:42'
//   npm run token -- --sub user:ada --scope track --info '{"name":"Ada Lovelace"}'
//   npm run token -- --sub agent:demo --scope watch --rooms '/docs/*,support'
//   npm run token -- --scope stats --site example.com      (the owner's dashboard, private stats)
//
// Options: --sub ID (required for track and watch; default "owner" for stats),
// --scope track|watch|stats (required), --site KEY (default demo), --watch LIST (watch scope:
// comma-separated ids or prefixes ending in *), --rooms LIST (watch scope: rooms or prefixes
// ending in * whose members it may list), --info JSON (track scope: member info, a JSON object
// of at most 512 bytes), --ttl SECONDS (default 3600, at most 7 days), --aud AUD (default
// herenow; --aud '' for none).
// The secret: the FIRST name in the site's `secret_env` (from $SITES, else SITES in .dev.vars),
// read from the environment or .dev.vars, with that name as the header's `kid`, exactly as a
// site signs during a rotation; else $HERENOW_DEMO_SECRET / .dev.vars. `--secret S [--kid K]`
// overrides. Prints the token and nothing else.
//
// As a module: `import { mintToken } from './scripts/token.mjs'`.

import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SECRET_VAR = 'HERENOW_DEMO_SECRET';
const ENTITY = /^[A-Za-z0-9._:@-]{1,128}$/;

const b64url = (data) => Buffer.from(data).toString('base64url');

/**
 * `header.payload.signature`: claims as given, signed HS256 with `secret` (its UTF-8 bytes,
 * exactly as the Worker reads the secret variable).
 */
export function mintToken({ secret, claims, kid }) {
  if (typeof secret !== 'string' || secret === '') throw new Error('mintToken: a secret is required');
  const header = { alg: 'HS256', typ: 'JWT' };
  if (kid) header.kid = kid;
  const head = b64url(JSON.stringify(header));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/**
 * Claims of a track token (with optional `info`), a watch token (`watch`, `rooms`) or a stats
 * token (`{"sub":"owner","scope":"stats"}`: reads /v1/rooms and /v1/history of a site with
 * private stats), valid for `ttl` seconds.
 */
export function tokenClaims({ site = 'demo', sub, scope, watch, rooms, info, ttl = 3600, aud = 'herenow', now = Date.now() }) {
  const claims = { site, sub, scope };
  if (scope === 'watch') claims.watch = watch || [];
  if (scope === 'watch' && rooms) claims.rooms = rooms;
  if (scope === 'track' && info) claims.info = info;
  if (aud) claims.aud = aud;
  claims.exp = Math.floor(now / 1000) + ttl;
  return claims;
}

/**
 * The key a site signs with: the first name of its `secret_env` (a string or a list, newest
 * first) and that secret's value, from `env` or `devVars`. Null when the site or value is unknown.
 */
export function siteKey(site, { env = process.env, devVars = readDevVars() } = {}) {
  let sites;
  try {
    sites = JSON.parse(env.SITES || devVars.SITES || '{}');
  } catch {
    return null;
  }
  const names = [].concat(sites?.[site]?.secret_env ?? []);
  const name = names[0];
  const secret = name && (env[name] || devVars[name]);
  return secret ? { kid: name, secret } : null;
}

/** KEY=VALUE lines (dotenv: optional quotes, # comments); {} when the file does not exist. */
export function readDevVars(file = path.join(ROOT, '.dev.vars')) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const vars = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2];
    const q = v[0];
    if ((q === '"' || q === "'" || q === '`') && v.length >= 2 && v.endsWith(q)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    vars[m[1]] = v;
  }
  return vars;
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      opts.help = true;
      continue;
    }
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    opts[m[1]] = value;
  }
  return opts;
}

const USAGE = `usage: npm run token -- --sub ID --scope track|watch [--site demo] [--watch 'user:*,customer:*']
                       [--rooms '/docs/*,support'] [--info '{"name":"Ada"}'] [--ttl 3600] [--aud herenow]
                       [--secret S [--kid NAME]]
       npm run token -- --scope stats [--sub owner] [--site demo] [--ttl 3600] ...
Prints an HS256 JWT for herenow, signed with the first secret of the site's secret_env (kid =
its name), read from the environment or .dev.vars; else with $${SECRET_VAR}.`;

function cli(argv) {
  const o = parseArgs(argv);
  if (o.help) return USAGE;
  const known = ['sub', 'scope', 'site', 'watch', 'rooms', 'info', 'ttl', 'secret', 'kid', 'aud'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new Error(`unknown option --${k}`);
  if (o.scope !== 'track' && o.scope !== 'watch' && o.scope !== 'stats') throw new Error('--scope must be "track", "watch" or "stats"');
  // The contract's stats token is the site owner's: {"sub":"owner","scope":"stats"}.
  if (o.scope === 'stats' && o.sub === undefined) o.sub = 'owner';
  if (!o.sub || !ENTITY.test(o.sub)) throw new Error('--sub must be an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -)');
  let watch;
  let rooms;
  let info;
  if (o.scope === 'watch') {
    if (!o.watch && !o.rooms) throw new Error("a watch token needs --watch (e.g. --watch 'customer:*,user:42') or --rooms (e.g. --rooms '/docs/*')");
    watch = (o.watch || '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of watch) {
      if (!ENTITY.test(p.replace(/\*$/, '')) && p !== '*') throw new Error(`--watch: ${JSON.stringify(p)} is not an entity id or a prefix ending in *`);
    }
    if (o.rooms) rooms = o.rooms.split(',').map((s) => s.trim()).filter(Boolean);
  } else if (o.watch || o.rooms) {
    throw new Error('--watch and --rooms go with --scope watch');
  }
  if (o.info) {
    if (o.scope !== 'track') throw new Error('--info goes with --scope track');
    try {
      info = JSON.parse(o.info);
    } catch {
      throw new Error('--info must be JSON, e.g. \'{"name":"Ada Lovelace"}\'');
    }
    if (!info || typeof info !== 'object' || Array.isArray(info)) throw new Error('--info must be a JSON object');
    if (Buffer.byteLength(JSON.stringify(info)) > 512) throw new Error('--info is larger than 512 bytes');
  }
  const ttl = o.ttl === undefined ? 3600 : Number(o.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 7 * 86400) throw new Error('--ttl must be a positive number of seconds, at most 7 days');
  const site = o.site || 'demo';
  const devVars = readDevVars();
  let key;
  if (o.secret) key = { secret: o.secret, kid: o.kid };
  else if (o.kid) throw new Error('--kid goes with --secret');
  else key = siteKey(site) ?? { secret: process.env[SECRET_VAR] || devVars[SECRET_VAR], kid: undefined };
  if (!key.secret) {
    throw new Error(`no secret: pass --secret, set ${SECRET_VAR}, or run \`npm run dev\` once (it writes .dev.vars)`);
  }
  const aud = o.aud === undefined ? 'herenow' : o.aud;
  return mintToken({ secret: key.secret, kid: key.kid, claims: tokenClaims({ site, sub: o.sub, scope: o.scope, watch, rooms, info, ttl, aud }) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    console.log(cli(process.argv.slice(2)));
  } catch (err) {
    console.error(`token: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
}
