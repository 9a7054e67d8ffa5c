// The documentation's links hold in any clone: every link and image in README.md and docs/*.md
// points to a file or folder of the repository (not one outside it, not a build output that a
// fresh clone lacks, not the web), and every #anchor to a heading of the file it names, with
// GitHub's anchor names. No Worker, no browser.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const DOCS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The lines of a Markdown file that are prose: fenced code blocks blanked, inline code removed. */
function prose(text) {
  let fence = null;
  return text.split('\n').map((line) => {
    const open = line.match(/^\s*(`{3,}|~{3,})/);
    if (fence) {
      if (open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = null;
      return '';
    }
    if (open) {
      fence = open[1];
      return '';
    }
    return line.replace(/(`+)(?:(?!\1).)+?\1/g, '');
  });
}

/**
 * GitHub's anchor for a heading: its text without code marks and link targets, lower case,
 * punctuation dropped, spaces as "-". (Headings here hold no raw HTML.)
 */
export function slug(heading) {
  const text = heading
    .replace(/`/g, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
}

/** Every anchor a file offers: its headings (repeats numbered as GitHub does) and explicit ids. */
function anchorsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const seen = new Map();
  const anchors = new Set();
  let fence = null;
  for (const line of text.split('\n')) {
    const open = line.match(/^\s*(`{3,}|~{3,})/);
    if (fence) {
      if (open && open[1][0] === fence[0]) fence = null;
      continue;
    }
    if (open) {
      fence = open[1];
      continue;
    }
    const heading = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const base = slug(heading[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n ? `${base}-${n}` : base);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
  }
  return anchors;
}

/** `[text](target)`, `![alt](target)`, `<a href>`, `<img src>` and `<scheme:...>` in prose, with their line numbers. */
function linksOf(file) {
  const links = [];
  prose(fs.readFileSync(path.join(ROOT, file), 'utf8')).forEach((line, i) => {
    for (const m of line.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line: i + 1 });
    for (const m of line.matchAll(/<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"/g)) links.push({ target: m[1], line: i + 1 });
    for (const m of line.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]+)>/gi)) links.push({ target: m[1], line: i + 1 }); // autolinks
  });
  return links;
}

const ignored = (rel) => {
  try {
    execFileSync('git', ['check-ignore', '-q', rel], { cwd: ROOT, stdio: 'ignore' });
    return true; // exit 0: ignored
  } catch {
    return false;
  }
};

test('the slugs are GitHub\'s', () => {
  assert.equal(slug('Tokens that renew: `getToken` and `token-url`'), 'tokens-that-renew-gettoken-and-token-url');
  assert.equal(slug('`<here-now-members>`'), 'here-now-members');
  assert.equal(slug('`window.herenow`'), 'windowherenow');
  assert.equal(slug('Scale: one site across many objects'), 'scale-one-site-across-many-objects');
  assert.equal(slug('The path to 1,000,000 concurrent viewers on one site'), 'the-path-to-1000000-concurrent-viewers-on-one-site');
  assert.equal(slug("The owner's dashboard"), 'the-owners-dashboard');
});

test('every link of README.md and docs/*.md resolves inside the repository, anchors included', () => {
  const problems = [];
  let checked = 0;
  for (const file of DOCS) {
    for (const { target, line } of linksOf(file)) {
      checked++;
      const where = `${file}:${line}: ${target}`;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) {
        problems.push(`${where}: a link outside the repository (name the source in text instead)`);
        continue;
      }
      const [pathPart, anchor] = target.split('#');
      const resolved = pathPart ? path.resolve(ROOT, path.dirname(file), decodeURIComponent(pathPart.split('?')[0])) : path.join(ROOT, file);
      const rel = path.relative(ROOT, resolved);
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        problems.push(`${where}: outside the repository`);
        continue;
      }
      if (!fs.existsSync(resolved)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      if (rel && ignored(rel)) {
        problems.push(`${where}: a build output or local file (gitignored), absent from a fresh clone`);
        continue;
      }
      if (anchor !== undefined) {
        if (!resolved.endsWith('.md')) {
          problems.push(`${where}: an anchor into a file that is not Markdown`);
        } else if (!anchorsOf(resolved).has(anchor)) {
          problems.push(`${where}: ${rel || file} has no heading #${anchor}`);
        }
      }
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
  assert.ok(checked >= 50, `the documentation has its links (${checked} checked)`);
  console.log(`# ${checked} links in ${DOCS.length} files resolve`);
});
