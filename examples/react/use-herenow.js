// React hooks over herenow's ES module, on useSyncExternalStore. "herenow" is
// https://herenow.example.com/herenow.mjs, through an import map or your bundler's alias (external).
import { useMemo, useRef, useSyncExternalStore } from 'react';
import { members, subscribe, watch } from 'herenow';

// A herenow feed as an external store: the last value it gave (undefined until the first).
function feedStore(open) {
  let value;
  return {
    subscribe: (onChange) => open((next) => { value = next; onChange(); }),
    get: () => value,
  };
}
const onServer = () => undefined; // server rendering: loading

function useFeed(open, deps) {
  const store = useMemo(() => feedStore(open), deps); // eslint-disable-line react-hooks/exhaustive-deps
  return useSyncExternalStore(store.subscribe, store.get, onServer);
}

// A getToken that may change on every render, as one stable function (feeds are shared by it).
function useGetToken(getToken) {
  const latest = useRef(getToken);
  latest.current = getToken;
  const has = typeof getToken === 'function';
  return useMemo(() => (has ? () => latest.current() : undefined), [has]);
}

/** Live counts: undefined while loading, null while unreachable, else {site, room, self}. */
export function useHereNow({ site, room, endpoint } = {}) {
  return useFeed((push) => subscribe({ site, room, endpoint }, push), [site, room, endpoint]);
}

/** One entity's status: undefined while loading, else {state, online_since, info, signals, ...} or {error}. */
export function useEntityStatus(entity, { token, getToken, site, endpoint } = {}) {
  const stable = useGetToken(getToken);
  return useFeed(
    (push) => watch({ entities: [entity], token, getToken: stable, site, endpoint }, push),
    [entity, token, stable, site, endpoint],
  );
}

/** Who is in a room: undefined while loading, else {members (each with its signals), anonymous, truncated} or {error}. */
export function useMembers(room, { token, getToken, site, endpoint } = {}) {
  const stable = useGetToken(getToken);
  return useFeed((push) => members({ room, token, getToken: stable, site, endpoint }, push), [room, token, stable, site, endpoint]);
}
