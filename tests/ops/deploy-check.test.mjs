// `npm run deploy` checks the configuration before `wrangler deploy` (scripts/deploy-check.mjs):
// what it refuses, what it lets through, and that the configuration docs/deploy.md tells a user
// to write passes while the committed placeholder does not. No Cloudflare account: the secret
// list is given to the check, and wrangler itself only reads the configuration files.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { checkConfig, main, parseArgs } from '../../scripts/deploy-check.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'deploy-check.mjs');
/** A domain of a user's own, for configurations that must pass (not a reserved example domain). */
const OWN = 'shop.herenow-user.dev';

const config = (sites, vars = {}) => ({
  vars: { SITES: typeof sites === 'string' ? sites : JSON.stringify(sites), ...vars },
  ratelimits: [{ name: 'PING_LIMITER', namespace_id: '1001', simple: { limit: 600, period: 60 } }],
  routes: [{ pattern: 'herenow.' + OWN, custom_domain: true }],
});
const own = { [OWN]: { origins: [`https://${OWN}`, `https://www.${OWN}`] } };
const errorsOf = (cfg, opts) => checkConfig(cfg, opts).errors;

/** wrangler.toml with its [vars] SITES line replaced, in a temporary directory beside a copy of public/. */
function writeConfig(dir, sitesLine, extra = '') {
  const source = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  assert.match(source, /^SITES = '.*'$/m, 'wrangler.toml has one SITES line');
  const text = source.replace(/^SITES = '.*'$/m, sitesLine).replace('directory = "public"', `directory = ${JSON.stringify(path.join(ROOT, 'public'))}`) + extra;
  const file = path.join(dir, 'wrangler.toml');
  fs.writeFileSync(file, text);
  return file;
}

test('a site of your own with its origins passes', () => {
  const verdict = checkConfig(config(own));
  assert.deepEqual(verdict.errors, []);
  assert.deepEqual(verdict.sites, [OWN]);
});

test('the placeholder, the demo site, or nothing: no site of yours is refused', () => {
  for (const sites of [{ 'example.com': { origins: ['https://example.com'] } }, { demo: { origins: ['*'] } }, {}, { shop: { origins: ['https://www.example.org'] } }]) {
    const errors = errorsOf(config(sites));
    assert.equal(errors.length, 1, JSON.stringify({ sites, errors }));
    assert.match(errors[0], /^SITES has no site of yours/);
  }
  // left beside a real site, the placeholder is still refused, and a placeholder origin too
  assert.match(errorsOf(config({ ...own, demo: { origins: ['*'] } })).join('\n'), /SITES still holds "demo"/);
  const mixed = errorsOf(config({ [OWN]: { origins: [`https://${OWN}`, 'https://example.com'] } }));
  assert.deepEqual(mixed, [`site "${OWN}": the origin "https://example.com" is a placeholder (a reserved example domain): remove it from SITES in the [vars] of wrangler.toml.`]);
});

test('a site open to any origin is refused unless --allow-any-origin names it', () => {
  const open = config({ ...own, widget: { origins: ['*'] } });
  const errors = errorsOf(open);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^site "widget" allows any origin \("\*"\).*--allow-any-origin=widget\.$/);
  assert.deepEqual(errorsOf(open, { allowAnyOrigin: new Set(['widget']) }), []);
  assert.equal(errorsOf(open, { allowAnyOrigin: new Set([OWN]) }).length, 1, 'naming another site allows nothing');
});

test('origins that can never match a browser are refused', () => {
  const errors = errorsOf(config({ [OWN]: { origins: [OWN, `https://${OWN}/pricing`, `ftp://${OWN}`, 42] } }));
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.match(errors[0], new RegExp(`has no scheme: a browser sends "https://${OWN}"`));
  assert.match(errors[1], new RegExp(`has a path: an Origin is only scheme, host and port \\("https://${OWN}"\\)`));
  assert.match(errors[2], /is not an http\(s\) origin/);
  assert.match(errors[3], /is not a string/);
  // a trailing slash is ignored by the Worker: allowed
  assert.deepEqual(errorsOf(config({ [OWN]: { origins: [`https://${OWN}/`, 'http://localhost:3000'] } })), []);
});

test('SITES missing, not JSON, not an object, or with a broken entry is refused', () => {
  assert.match(errorsOf({ vars: {}, ratelimits: [], routes: [] })[0], /^no SITES var/);
  assert.match(errorsOf(config('{"shop":')).join(), /^SITES is not JSON/);
  assert.match(errorsOf(config('["shop"]')).join(), /^SITES must be a JSON object/);
  assert.match(errorsOf(config({ ...own, b: { origins: 'https://b.dev' } })).join(), /site "b": "origins" must be a list/);
  assert.match(errorsOf(config({ ...own, b: 'https://b.dev' })).join(), /site "b": its entry must be an object/);
  assert.match(errorsOf(config({ [OWN]: { ...own[OWN], private_stats: true } })).join(), /"private_stats" needs "secret_env"/);
  assert.match(errorsOf(config({ [OWN]: { ...own[OWN], webhook: { url: `https://${OWN}/hook` } } })).join(), /"webhook" needs "secret_env"/);
  assert.match(errorsOf(config({ [OWN]: { ...own[OWN], shards: 65 } })).join(), /"shards" must be a whole number from 1 to 64/);
});

test('secrets: a committed one is refused; a missing one is refused when the list is known, noted when not', () => {
  const rotating = config({ [OWN]: { ...own[OWN], secret_env: ['HERENOW_SECRET_2026_11', 'HERENOW_SECRET_2026_05'] } });
  // known: both set, one missing
  assert.deepEqual(errorsOf(rotating, { secrets: new Set(['HERENOW_SECRET_2026_11', 'HERENOW_SECRET_2026_05']) }), []);
  assert.deepEqual(errorsOf(rotating, { secrets: new Set(['HERENOW_SECRET_2026_11']) }), [
    `the secret HERENOW_SECRET_2026_05 (secret_env of "${OWN}") is not set on the Worker: npx wrangler secret put HERENOW_SECRET_2026_05`,
  ]);
  // unknown: said, and the deploy goes on
  const unknown = checkConfig(rotating, { secrets: null, secretsUnknownWhy: 'not logged in' });
  assert.deepEqual(unknown.errors, []);
  assert.ok(unknown.notes.some((n) => n.startsWith('cannot tell whether HERENOW_SECRET_2026_11, HERENOW_SECRET_2026_05 are set (not logged in); going on')), unknown.notes.join('\n'));
  // a secret written into [vars] would be committed with wrangler.toml
  const committed = config({ [OWN]: { ...own[OWN], secret_env: 'HERENOW_SECRET' } }, { HERENOW_SECRET: 'abc' });
  assert.match(errorsOf(committed).join(), /HERENOW_SECRET \(secret_env of ".*"\) is a plain var of the configuration: a secret must not be committed/);
});

test('DEMO_PAGES="true" is refused unless --allow-demo-pages; a bad namespace_id is refused', () => {
  const demo = config(own, { DEMO_PAGES: 'true' });
  assert.match(errorsOf(demo).join(), /^DEMO_PAGES is "true": the demo pages/);
  assert.deepEqual(errorsOf(demo, { allowDemoPages: true }), []);
  assert.deepEqual(errorsOf(config(own, { DEMO_PAGES: 'false' })), []);
  const cfg = config(own);
  cfg.ratelimits[0].namespace_id = 'herenow';
  assert.match(errorsOf(cfg).join(), /namespace_id "herenow": it must be a positive integer/);
  const noLimiter = checkConfig({ ...config(own), ratelimits: [], routes: [] });
  assert.deepEqual(noLimiter.errors, []);
  assert.equal(noLimiter.notes.length, 2, 'no rate limit and workers.dev only are said, not refused');
});

test('flags: the check takes its own, reads --config and --env, and leaves the rest to wrangler', () => {
  const args = parseArgs(['--allow-any-origin=widget,badge', '--allow-any-origin', 'counter', '--env', 'staging', '-c=prod.toml', '--dry-run', '--allow-demo-pages']);
  assert.deepEqual([...args.allowAnyOrigin], ['widget', 'badge', 'counter']);
  assert.equal(args.allowDemoPages, true);
  assert.equal(args.env, 'staging');
  assert.equal(args.config, 'prod.toml');
  assert.deepEqual(args.wrangler, ['--env', 'staging', '-c=prod.toml', '--dry-run']);
});

test('the committed wrangler.toml is refused, and the configuration docs/deploy.md writes passes once its placeholder is replaced', async () => {
  const said = [];
  const collect = { log: (l) => said.push(l), warn: (l) => said.push(l), list: () => assert.fail('no secret list without secret_env') };
  assert.equal(await main([], collect), 1, said.join('\n'));
  assert.match(said.join('\n'), /SITES has no site of yours \(only "example\.com"\)/);

  // the guide's production SITES line, as written and with the user's own domain in it
  const guide = fs.readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const line = guide.match(/^SITES = '.*'$/m)?.[0];
  assert.ok(line, 'docs/deploy.md shows the SITES line of the production config');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-deploy-check-'));
  try {
    const secrets = new Set(['HERENOW_SECRET_EXAMPLE']);
    const asWritten = writeConfig(dir, line);
    said.length = 0;
    assert.equal(await main(['--config', asWritten], { ...collect, list: () => ({ names: secrets, why: '' }) }), 1, 'the guide\'s placeholder is refused');
    assert.match(said.join('\n'), /no site of yours/);

    const filled = writeConfig(dir, line.replaceAll('example.com', OWN), `\nroutes = [{ pattern = "herenow.${OWN}", custom_domain = true }]\n`);
    said.length = 0;
    assert.equal(await main(['--config', filled], { ...collect, list: () => ({ names: secrets, why: '' }) }), 0, said.join('\n'));
    assert.match(said.at(-1), new RegExp(`^deploy-check: ok: sites "${OWN.replaceAll('.', '\\.')}"`));
    said.length = 0;
    assert.equal(await main(['--config', filled], { ...collect, list: () => ({ names: new Set(), why: '' }) }), 1, 'its secret not set: refused');
    assert.match(said.join('\n'), /the secret HERENOW_SECRET_EXAMPLE .* is not set on the Worker: npx wrangler secret put HERENOW_SECRET_EXAMPLE/);

    // the script itself, as npm run deploy runs it: exit status and message
    const open = writeConfig(dir, `SITES = '{"${OWN}":{"origins":["*"]}}'`);
    const refused = spawnSync(process.execPath, [SCRIPT, '--config', open], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`site "${OWN.replaceAll('.', '\\.')}" allows any origin`));
    const allowed = spawnSync(process.execPath, [SCRIPT, '--config', open, `--allow-any-origin=${OWN}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(allowed.stdout, /deploy-check: ok/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
