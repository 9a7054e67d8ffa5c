// Uses every API, callback payload, event and element that public/herenow.d.ts declares, as a
// page's TypeScript would; `@ts-expect-error` lines are mistakes the declarations must catch.
// Compiled with `tsc --noEmit` (tests/types/tsconfig.json); never run.

import herenow, { configure, identify, members, setRoom, signal, signalEnd, stop, subscribe, track, watch } from 'https://herenow.example.workers.dev/herenow.mjs';
import type { GetToken, Member, Status } from 'https://herenow.example.workers.dev/herenow.mjs';

declare function fetchToken(kind: 'track' | 'watch'): Promise<string>;

configure({ site: 'example.com', endpoint: 'https://herenow.example.workers.dev' });
configure({ site: () => document.documentElement.dataset.site ?? '' });

// Counts
const off: () => void = subscribe({ site: 'example.com', room: '/pricing' }, (counts) => {
  if (counts === null) return; // unreachable
  const total: number = counts.site.sessions + counts.site.visitors;
  const inRoom: number | undefined = counts.room?.sessions;
  const mine: boolean = counts.self;
  console.log(total, inRoom, mine, counts.room?.room.toUpperCase());
});
off();

// Tracking, identity, token renewal
const getTrack: GetToken = () => fetchToken('track');
track({ site: 'example.com', room: '/docs/intro', entity: 'user:42', getToken: getTrack });
track({ entity: 'user:42', token: 'eyJ...', tokenUrl: '/herenow/track-token' });
track();
identify('user:42', 'eyJ...');
identify('user:42', getTrack);
identify('user:42', { token: 'eyJ...', getToken: getTrack });
identify(null);
setRoom('/docs/next');
signal('typing');
signalEnd('typing');
window.herenow.signal('recording');
// @ts-expect-error a signal has a name
signal();
stop();
// @ts-expect-error an identity needs a token (or a way to get one)
identify('user:42');
// @ts-expect-error getToken resolves to a string
track({ entity: 'user:42', getToken: () => 42 });

// Entity status
watch({ entities: ['user:42', 'user:7'], getToken: () => fetchToken('watch') }, (status: Status) => {
  if (status.error !== undefined) {
    const code: string = status.error;
    const lastSeen: number | null = status.last_seen;
    console.log(code, lastSeen, status.online === null);
    return;
  }
  const state: 'online' | 'away' | 'offline' = status.state;
  const since: number | null = status.online_since;
  const name = status.info?.name;
  const sessions: number = status.sessions;
  const online: boolean = status.online;
  const typing: boolean = status.signals.includes('typing');
  console.log(state, since, name, sessions, online, typing);
});
watch({ entity: 'user:42', token: 'eyJ...', site: 'example.com', endpoint: 'https://h.example' }, () => {});
// @ts-expect-error there is no state "busy"
watch({ entities: 'user:42', token: 't' }, (s) => s.state === 'busy');

// Members of a room
const stopMembers = members({ room: '/docs/intro', tokenUrl: '/herenow/watch-token' }, (m) => {
  if (m.error !== undefined) {
    console.log(m.error, m.members === null);
    return;
  }
  const faces: Member[] = m.members;
  for (const member of faces) {
    const avatar: unknown = member.info?.avatar;
    const away: boolean = member.state === 'away' || member.signals.includes('typing');
    console.log(member.entity, member.sessions, member.online_since, avatar, away);
  }
  console.log(m.anonymous.visitors, m.truncated, m.room);
});
stopMembers();

// The default export and window.herenow are the same API
const api: typeof window.herenow = herenow;
const session: string = api.session;
const visitor: string = window.herenow.visitor;
const who: string | null = window.herenow.identity;
const where = window.herenow.tracking;
if (where) console.log(where.endpoint, where.site, where.room);
console.log(session, visitor, who);
window.herenow.members({ room: 'support', token: 't' }, (m) => m.members?.length);
// @ts-expect-error read-only
window.herenow.session = 'x';

// Events
document.addEventListener('herenow:count', (e) => {
  const detail = e.detail;
  console.log(detail.endpoint, detail.siteKey, detail.site.sessions, detail.self);
});

// Elements
const counter = document.createElement('here-now');
counter.setAttribute('room', '/pricing');
const counterState: 'loading' | 'live' | 'offline' | null = counter.getAttribute('data-state');
const status = document.createElement('here-now-status');
status.setAttribute('entity', 'user:42');
status.setAttribute('token-url', '/herenow/watch-token');
status.setAttribute('text-online-for', 'Online for {for}');
const shown: 'online' | 'away' | 'offline' | null = status.getAttribute('data-status');
status.setAttribute('text-typing', '{name} is typing...');
const signalsShown: string | null = status.getAttribute('data-signals');
console.log(signalsShown);
const who2 = document.querySelector('here-now-members');
if (who2) {
  who2.setAttribute('max', '8');
  const membersState: 'loading' | 'live' | 'unreachable' | 'error' | null = who2.getAttribute('data-state');
  console.log(membersState);
}
document.body.append(counter, status);
console.log(counterState, shown);
