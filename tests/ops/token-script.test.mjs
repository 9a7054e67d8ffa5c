// `npm run token` (scripts/token.mjs) as its users run it: the printed token is checked here with
// an HMAC of our own, not with the script's code. No Worker: the dashboard's browser test shows
// that the Worker accepts the stats token it prints.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { ROOT } from '../kit/harness.mjs';

const SECRET = randomBytes(32).toString('hex');
const SITES = JSON.stringify({ 'shop.example': { origins: ['*'], secret_env: ['SHOP_SECRET_NEW', 'SHOP_SECRET_OLD'], private_stats: true } });
// An empty working directory: no .dev.vars of the developer's can leak into the test.
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-token-'));
after(() => fs.rmSync(cwd, { recursive: true, force: true }));

function run(args, env = {}) {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'token.mjs'), ...args], {
    cwd,
    env: { PATH: process.env.PATH, SITES, SHOP_SECRET_NEW: SECRET, SHOP_SECRET_OLD: 'old', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: res.status, out: res.stdout.trim(), err: res.stderr };
}

/** The header and claims of an HS256 JWT, after checking its signature with `secret`. */
function open(jwt, secret) {
  const [head, body, sig] = jwt.split('.');
  const expected = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  assert.equal(sig, expected, 'signed HS256 with the secret');
  const parse = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  return { header: parse(head), claims: parse(body) };
}

test('npm run token -- --scope stats mints the owner\'s stats token of the site, signed with its first secret', () => {
  const before = Math.floor(Date.now() / 1000);
  const r = run(['--scope', 'stats', '--site', 'shop.example', '--ttl', '600']);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'prints the token and nothing else');
  const { header, claims } = open(r.out, SECRET);
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', kid: 'SHOP_SECRET_NEW' });
  const { exp, ...rest } = claims;
  assert.deepEqual(rest, { site: 'shop.example', sub: 'owner', scope: 'stats', aud: 'herenow' });
  assert.ok(exp >= before + 600 && exp <= before + 602, `exp ${exp} is ttl seconds from now`);
});

test('a stats token takes --sub owner as written, and refuses a watch list', () => {
  const r = run(['--sub', 'owner', '--scope', 'stats', '--site', 'shop.example']);
  assert.equal(r.status, 0, r.err);
  assert.equal(open(r.out, SECRET).claims.sub, 'owner');
  const watch = run(['--scope', 'stats', '--site', 'shop.example', '--watch', 'user:*']);
  assert.equal(watch.status, 2);
  assert.match(watch.err, /--watch and --rooms go with --scope watch/);
});

test('track and watch tokens still need --sub, and any other scope is refused', () => {
  const track = run(['--scope', 'track', '--site', 'shop.example']);
  assert.equal(track.status, 2);
  assert.match(track.err, /--sub must be an entity id/);
  const other = run(['--sub', 'owner', '--scope', 'admin', '--site', 'shop.example']);
  assert.equal(other.status, 2);
  assert.match(other.err, /--scope must be "track", "watch" or "stats"/);
  const ok = run(['--sub', 'user:42', '--scope', 'track', '--site', 'shop.example']);
  assert.equal(ok.status, 0, ok.err);
  assert.equal(open(ok.out, SECRET).claims.scope, 'track');
});

test('--help names the stats scope', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.out, /--scope stats/);
});
