// A page of a React app that uses the README's hooks (examples/react/use-herenow.js), bundled by
// tests/browser/developer-browser.test.mjs with esbuild ("herenow" left to the page's import map).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { useEntityStatus, useHereNow, useMembers } from '../../examples/react/use-herenow.js';

function Presence({ site, room, entity, token, readers }) {
  const counts = useHereNow({ site, room });
  const status = useEntityStatus(entity, { site, getToken: async () => token });
  const who = useMembers(room, { site, token: readers });
  return (
    <dl>
      <dt>In the room</dt>
      <dd id="count">{counts === undefined ? 'loading' : counts === null ? 'unreachable' : String(counts.room.sessions)}</dd>
      <dt>Customer</dt>
      <dd id="status">{status === undefined ? 'loading' : status.error ?? status.state}</dd>
      <dd id="name">{status?.info?.name ?? ''}</dd>
      <dd id="signals">{status?.signals?.join(',') ?? ''}</dd>
      <dt>Members</dt>
      <dd id="members">{who === undefined ? 'loading' : who.error ?? who.members.map((m) => m.entity).join(',')}</dd>
    </dl>
  );
}

const props = JSON.parse(document.getElementById('props').textContent);
createRoot(document.getElementById('root')).render(
  <StrictMode>
    <Presence {...props} />
  </StrictMode>,
);
