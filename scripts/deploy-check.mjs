// `npm run deploy` runs this before `wrangler deploy`: it reads the Wrangler configuration that
// will be deployed and refuses what would be a mistake in production, with a sentence that says
// what to change. Nothing is sent anywhere, except `wrangler secret list` to learn whether the
// secrets the sites name are set (when that cannot be known it says so and goes on).
//
//   node scripts/deploy-check.mjs [--allow-any-origin=SITE[,SITE]] [--allow-demo-pages]
//                                 [wrangler deploy flags: --config FILE, --env NAME, ...]
//
// Refused:
// - a SITES var that is missing, not a JSON object, or has a broken site entry;
// - no site of your own: only `demo`, or the placeholder the repository commits
//   (example.com and the other reserved example domains);
// - an origin that can never match a browser's Origin header (no scheme, a path), or a
//   placeholder origin;
// - a site open to any origin ("*") that `--allow-any-origin=SITE` does not name: an open site
//   can be counted and read by any page on the web, which is right for a public counter and
//   wrong for everything else, so the deploy says so in its own words;
// - DEMO_PAGES="true" without --allow-demo-pages (the demo pages belong to `npm run dev`);
// - a secret named in `secret_env` that is a plain var of the configuration (a committed secret),
//   or that `wrangler secret list` shows is not set;
// - a rate-limit binding whose namespace_id is not a positive integer.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');

/** Hosts reserved for examples and tests (RFC 2606, RFC 6761): never a real site. */
const PLACEHOLDER_HOST = /(^|\.)(example\.(com|net|org)|example|test|invalid)$/i;

/** The flags this script takes, and the wrangler flags it reads; everything else is wrangler's. */
export function parseArgs(argv) {
  const out = { allowAnyOrigin: new Set(), allowDemoPages: false, config: undefined, env: undefined, wrangler: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--allow-any-origin') {
      const value = inline ?? argv[++i] ?? '';
      for (const site of value.split(',')) if (site.trim()) out.allowAnyOrigin.add(site.trim());
      continue;
    }
    if (flag === '--allow-demo-pages') {
      out.allowDemoPages = true;
      continue;
    }
    out.wrangler.push(arg);
    if (flag === '--config' || flag === '-c' || flag === '--env' || flag === '-e') {
      const value = inline ?? argv[i + 1];
      if (inline === undefined) out.wrangler.push(argv[++i]);
      if (flag === '--config' || flag === '-c') out.config = value;
      else out.env = value;
    }
  }
  return out;
}

/** The configuration wrangler will deploy, read by wrangler itself (its TOML, its environments). */
export async function readDeployConfig({ config, env } = {}) {
  let wrangler;
  try {
    wrangler = await import('wrangler');
  } catch (e) {
    throw new Error(`cannot load wrangler to read the configuration (${e.message}); run bash scripts/setup.sh`);
  }
  if (typeof wrangler.unstable_readConfig !== 'function') {
    throw new Error('this wrangler has no unstable_readConfig to read the configuration with; update scripts/deploy-check.mjs, or deploy with npx wrangler deploy to skip the check');
  }
  const read = await wrangler.unstable_readConfig({ config: config ?? path.join(ROOT, 'wrangler.toml'), env }, { hideWarnings: true });
  return { name: read.name, vars: read.vars ?? {}, ratelimits: read.ratelimits ?? [], routes: read.routes ?? (read.route ? [read.route] : []), workersDev: read.workers_dev };
}

/** The names in a `secret_env` value ("NAME" or ["NEW", "OLD"]). */
const secretNames = (value) => (value == null ? [] : Array.isArray(value) ? value : [value]);

/** Why an origin can never equal a browser's Origin header, or null. */
function badOrigin(origin) {
  if (typeof origin !== 'string') return 'is not a string';
  if (origin === '*') return null;
  let url;
  try {
    url = new URL(origin);
  } catch {
    return `has no scheme: a browser sends "https://${origin.replace(/^\/*/, '')}"`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `is not an http(s) origin`;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    return `has a path: an Origin is only scheme, host and port ("${url.origin}")`;
  }
  return null;
}

/**
 * The verdict on a configuration: `errors` refuse the deploy; `notes` are said and the deploy
 * goes on. `secrets`: the names `wrangler secret list` gave, or null when that is unknown.
 */
export function checkConfig({ vars, ratelimits = [], routes = [] }, { allowAnyOrigin = new Set(), allowDemoPages = false, secrets = null, secretsUnknownWhy = '' } = {}) {
  const errors = [];
  const notes = [];
  const fix = 'SITES in the [vars] of wrangler.toml';

  if (vars.DEMO_PAGES != null && ['true', '1', 'yes'].includes(String(vars.DEMO_PAGES).trim().toLowerCase()) && !allowDemoPages) {
    errors.push('DEMO_PAGES is "true": the demo pages (/, /chat.html, /agent.html, ...) would be public. Remove DEMO_PAGES from [vars] (npm run dev turns it on for itself), or deploy with --allow-demo-pages.');
  }

  let sites = null;
  if (vars.SITES == null) {
    errors.push(`no SITES var: the Worker would serve only the built-in open "demo" site. Set ${fix} (docs/deploy.md).`);
  } else {
    try {
      sites = JSON.parse(String(vars.SITES));
    } catch (e) {
      errors.push(`SITES is not JSON (${e.message}): every /v1 request would answer 500. Fix ${fix}.`);
    }
    if (sites !== null && (typeof sites !== 'object' || Array.isArray(sites))) {
      errors.push(`SITES must be a JSON object of site key -> entry. Fix ${fix}.`);
      sites = null;
    }
  }

  const named = new Map(); // secret name -> the sites that name it
  if (sites) {
    const placeholders = []; // keys of the demo and example sites
    for (const [key, entry] of Object.entries(sites)) {
      const where = `site "${key}"`;
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        errors.push(`${where}: its entry must be an object such as {"origins":["https://${key}"]}.`);
        continue;
      }
      const origins = entry.origins ?? [];
      if (!Array.isArray(origins)) {
        errors.push(`${where}: "origins" must be a list, e.g. ["https://${key}"].`);
        continue;
      }
      const valid = origins.filter((origin) => {
        const why = badOrigin(origin);
        if (why) errors.push(`${where}: the origin ${JSON.stringify(origin)} ${why}.`);
        return !why;
      });
      const isPlaceholder = (origin) => origin !== '*' && PLACEHOLDER_HOST.test(new URL(origin).hostname);
      // the demo site, or a site named after a reserved example domain or holding only such origins
      const placeholder = key === 'demo' || PLACEHOLDER_HOST.test(key) || (valid.length > 0 && valid.every(isPlaceholder));
      if (placeholder) placeholders.push(key);
      else for (const origin of valid.filter(isPlaceholder)) errors.push(`${where}: the origin "${origin}" is a placeholder (a reserved example domain): remove it from ${fix}.`);
      if (origins.includes('*') && !placeholder && !allowAnyOrigin.has(key)) {
        errors.push(`${where} allows any origin ("*"): any page on the web could count visitors on it and read its counts. List its origins in ${fix}, or, for a counter meant to be embedded anywhere, deploy with --allow-any-origin=${key}.`);
      }
      if (origins.length === 0) notes.push(`${where} has no origins: only servers (requests without an Origin header) can use it; every browser page is refused.`);
      const names = secretNames(entry.secret_env);
      if (names.some((n) => typeof n !== 'string' || !n.trim())) errors.push(`${where}: "secret_env" must be a secret's name, or a list of names.`);
      for (const n of names) if (typeof n === 'string' && n.trim()) named.set(n, [...(named.get(n) ?? []), key]);
      if ((entry.private_stats || entry.webhook) && names.length === 0) {
        errors.push(`${where}: ${entry.private_stats ? '"private_stats"' : '"webhook"'} needs "secret_env" (the secret that signs its tokens and webhooks); without it the site answers 500.`);
      }
      if (entry.shards !== undefined && !(Number.isInteger(entry.shards) && entry.shards >= 1 && entry.shards <= 64)) {
        errors.push(`${where}: "shards" must be a whole number from 1 to 64.`);
      }
    }
    const list = (keys) => keys.map((k) => `"${k}"`).join(', ');
    if (placeholders.length === Object.keys(sites).length) {
      errors.push(`SITES has no site of yours (${placeholders.length ? `only ${list(placeholders)}` : 'it is empty'}): the committed wrangler.toml holds a placeholder. Put your site and its origins in ${fix}, e.g. SITES = '{"<your domain>":{"origins":["https://<your domain>"]}}' (docs/deploy.md).`);
    } else if (placeholders.length) {
      errors.push(`SITES still holds ${list(placeholders)}, ${placeholders.length > 1 ? 'placeholders' : 'a placeholder'} of the committed configuration or the local demo: remove ${placeholders.length > 1 ? 'them' : 'it'} from ${fix}.`);
    }
  }

  for (const [name, owners] of named) {
    const who = owners.map((k) => `"${k}"`).join(', ');
    if (Object.hasOwn(vars, name)) {
      errors.push(`${name} (secret_env of ${who}) is a plain var of the configuration: a secret must not be committed. Remove it from [vars] and run: npx wrangler secret put ${name}`);
    } else if (secrets && !secrets.has(name)) {
      errors.push(`the secret ${name} (secret_env of ${who}) is not set on the Worker: npx wrangler secret put ${name}`);
    }
  }
  if (named.size && !secrets) {
    notes.push(`cannot tell whether ${[...named.keys()].join(', ')} ${named.size > 1 ? 'are' : 'is'} set${secretsUnknownWhy ? ` (${secretsUnknownWhy})` : ''}; going on. Check with: npx wrangler secret list`);
  }

  for (const rl of ratelimits) {
    if (!/^[1-9][0-9]*$/.test(String(rl.namespace_id ?? ''))) {
      errors.push(`the rate limit ${rl.name ?? ''} has namespace_id ${JSON.stringify(rl.namespace_id ?? null)}: it must be a positive integer, unique in your Cloudflare account.`);
    }
  }
  if (!ratelimits.some((rl) => rl.name === 'PING_LIMITER')) {
    notes.push('no PING_LIMITER rate-limit binding: pings and socket upgrades will not be rate-limited by the Worker.');
  }
  if (!routes.length) {
    notes.push('no routes: the Worker will answer on workers.dev only; a custom domain in your zone is where the WAF rules of docs/deploy.md apply.');
  }
  return { errors, notes, sites: sites ? Object.keys(sites) : [] };
}

/**
 * The secret names of the Worker, from `wrangler secret list`; `{ names: null, why }` when they
 * cannot be known (not logged in, no network, the Worker not deployed yet).
 */
export function listSecrets({ config, env } = {}) {
  const args = ['secret', 'list', '--format', 'json'];
  if (config) args.push('--config', config);
  if (env) args.push('--env', env);
  const run = spawnSync(WRANGLER, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
  if (run.status === 0) {
    try {
      const list = JSON.parse(run.stdout.slice(run.stdout.indexOf('[')));
      if (Array.isArray(list)) return { names: new Set(list.map((s) => s.name)), why: '' };
    } catch {
      // not the list: unknown
    }
  }
  const said = `${run.stderr ?? ''}\n${run.stdout ?? ''}`;
  const why = /CLOUDFLARE_API_TOKEN|not logged in|wrangler login/i.test(said)
    ? 'not logged in: wrangler login, or CLOUDFLARE_API_TOKEN'
    : /not found/i.test(said)
      ? 'the Worker is not deployed yet'
      : run.error
        ? String(run.error.message)
        : 'wrangler secret list failed';
  return { names: null, why };
}

export async function main(argv, { list = listSecrets, log = console.log, warn = console.error } = {}) {
  const args = parseArgs(argv);
  let config;
  try {
    config = await readDeployConfig(args);
  } catch (e) {
    warn(`deploy-check: ${e.message}`);
    return 1;
  }
  const names = [...new Set(Object.values(safeSites(config.vars.SITES)).flatMap((s) => secretNames(s && s.secret_env)))];
  const secrets = names.length ? list(args) : { names: null, why: '' };
  const verdict = checkConfig(config, { ...args, secrets: secrets.names, secretsUnknownWhy: secrets.why });
  for (const note of verdict.notes) log(`deploy-check: note: ${note}`);
  if (verdict.errors.length) {
    warn(`deploy-check: not deploying ${config.name ?? 'the Worker'}:`);
    for (const error of verdict.errors) warn(`  - ${error}`);
    return 1;
  }
  log(`deploy-check: ok: sites ${verdict.sites.map((s) => `"${s}"`).join(', ')}`);
  return 0;
}

function safeSites(text) {
  try {
    const sites = JSON.parse(String(text ?? '{}'));
    return sites && typeof sites === 'object' && !Array.isArray(sites) ? sites : {};
  } catch {
    return {};
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
