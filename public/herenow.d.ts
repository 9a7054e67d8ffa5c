// TypeScript declarations for herenow's browser client: the classic script (herenow.js, which
// sets window.herenow) and the ES module (herenow.mjs), and the custom elements <here-now>,
// <here-now-status> and <here-now-members>. Written by hand next to the sources in src/browser/;
// tests/types/ compiles a program that uses all of it.
//
// Use: copy this file into your project (or reference it: /// <reference path="herenow.d.ts" />).
// It declares the module under the names "herenow" (for an import map or a bundler alias) and
// "*/herenow.mjs" (an import from your deployment's URL):
//   import { track, subscribe } from 'https://herenow.example.com/herenow.mjs';

declare namespace HereNow {
  /** Live sessions (tabs) and distinct visitors (browsers). */
  interface Counts {
    sessions: number;
    visitors: number;
  }

  interface RoomCounts extends Counts {
    room: string;
  }

  /** What subscribe() callbacks get: `null` while the server cannot be reached. */
  interface CountUpdate {
    site: Counts;
    /** Only when a room was subscribed to. */
    room: RoomCounts | null;
    /** This page's own session is counted in the subscribed scope (tracked here, and not away). */
    self: boolean;
  }

  /** `detail` of the `herenow:count` document event, sent on every new count of any feed. */
  interface CountEventDetail extends CountUpdate {
    endpoint: string;
    siteKey: string;
  }

  /** Member info, signed into the track token by the site's back end (at most 512 bytes of JSON). */
  interface MemberInfo {
    name?: string;
    /** An http(s) URL of a picture. */
    avatar?: string;
    [key: string]: unknown;
  }

  type EntityState = 'online' | 'away' | 'offline';

  /** An entity's status, as watch() callbacks get it. */
  interface KnownStatus {
    entity: string;
    /** True while online or away (some session lives). */
    online: boolean;
    /** online: some session visible; away: sessions, none visible; offline: none. */
    state: EntityState;
    sessions: number;
    /** Epoch ms of the last sign of life, or null (never seen). */
    last_seen: number | null;
    /** Epoch ms when the current online-or-away period began; null when offline. */
    online_since: number | null;
    info: MemberInfo | null;
    /** Its sessions' signals (`herenow.signal()`), e.g. `["typing"]`; sorted, each once. */
    signals: string[];
    error?: undefined;
  }

  /**
   * A status that cannot be known: `"unreachable"` (it retries) or the server's error code
   * (`"bad_token"`, `"not_watchable"`, `"unknown_site"`, `"bad_request"`, ...: final).
   */
  interface UnknownStatus {
    entity: string;
    online: null;
    state: null;
    sessions: null;
    last_seen: number | null;
    online_since: null;
    info: MemberInfo | null;
    signals: [];
    error: string;
  }

  type Status = KnownStatus | UnknownStatus;

  /** One entity in a room. */
  interface Member {
    entity: string;
    state: 'online' | 'away';
    sessions: number;
    online_since: number | null;
    info: MemberInfo | null;
    /** Its signals in this room, e.g. `["typing"]`. */
    signals: string[];
  }

  /** Who is in a room, as members() callbacks get it. */
  interface KnownMembers {
    room: string;
    /** Earliest online_since first; at most 1000 (then `truncated`). */
    members: Member[];
    /** Sessions in the room without an entity. */
    anonymous: Counts;
    truncated: boolean;
    error?: undefined;
  }

  interface UnknownMembers {
    room: string;
    members: null;
    anonymous: null;
    truncated: false;
    /** `"unreachable"` (it retries), or the server's code (`"not_watchable"`, `"bad_token"`, ...: final). */
    error: string;
  }

  type Members = KnownMembers | UnknownMembers;

  /**
   * Resolves to a fresh token (a JWT from your back end). Called before the current token expires
   * (read from its `exp`) and after the server refused it with `bad_token`.
   */
  type GetToken = () => Promise<string>;

  /** A token, and optionally a way to get fresh ones. */
  interface TokenOptions {
    token?: string;
    getToken?: GetToken;
    /** GET this URL for a fresh token: the answer is the token as text, or JSON `{"token": "..."}`. */
    tokenUrl?: string;
  }

  interface Where {
    /** Site key; default: the tracked site, or the script tag's data-site, or configure({site}). */
    site?: string;
    /** The herenow deployment; default: where the script or module was loaded from. */
    endpoint?: string;
  }

  interface SubscribeOptions extends Where {
    /** A room to count; without it, the whole site. */
    room?: string;
  }

  interface TrackOptions extends Where, TokenOptions {
    /** Default: location.pathname. */
    room?: string;
    /** The entity this page's session carries (needs a track token, or getToken); null: anonymous. */
    entity?: string | null;
  }

  interface WatchOptions extends Where, TokenOptions {
    /** Entity ids (or one id, or a comma-separated list). */
    entities?: string[] | string;
    entity?: string;
  }

  interface MembersOptions extends Where, TokenOptions {
    /** Default: location.pathname. */
    room?: string;
  }

  interface Defaults {
    site?: string | (() => string);
    endpoint?: string | (() => string);
  }

  type Unsubscribe = () => void;

  interface Tracking {
    endpoint: string;
    site: string;
    room: string;
  }

  /** window.herenow, and the module's default export. */
  interface Api {
    subscribe(options: SubscribeOptions, callback: (counts: CountUpdate | null) => void): Unsubscribe;
    watch(options: WatchOptions, callback: (status: Status) => void): Unsubscribe;
    members(options: MembersOptions, callback: (members: Members) => void): Unsubscribe;
    track(options?: TrackOptions): void;
    /** The tracked session carries `entity` from now on; identify(null) drops it (log-out). */
    identify(entity: string, token: string | GetToken | TokenOptions): void;
    identify(entity: null): void;
    setRoom(room: string): void;
    /**
     * The tracked entity session shows `name` (1-32 of a-z 0-9 _ -, e.g. "typing") to its
     * watchers for `SIGNAL_TTL_MS` (5 s). Call it on every keystroke: it is renewed at most once
     * per half that. Nothing happens on an anonymous page.
     */
    signal(name: string): void;
    /** The signal ends now, not after its ttl. */
    signalEnd(name: string): void;
    stop(): void;
    configure(defaults: Defaults): void;
    /** This tab's session id. */
    readonly session: string;
    /** This browser's visitor id. */
    readonly visitor: string;
    /** The entity this page carries, or null. */
    readonly identity: string | null;
    readonly tracking: Tracking | null;
  }

  /** `<here-now>`: "42 online now". */
  interface CounterElement extends HTMLElement {
    /** `site`, `room`, `endpoint`, `count` ("sessions" | "visitors"), `exclude-self`, `min`, `text-*`. */
    getAttribute(name: 'data-state'): 'loading' | 'live' | 'offline' | null;
    getAttribute(name: string): string | null;
  }

  /** `<here-now-status>`: a dot and "Online" / "typing..." / "Away" / "Last seen 5 minutes ago". */
  interface StatusElement extends HTMLElement {
    /** `entity`, `token`, `token-url`, `site`, `endpoint`, `text-*` (`text-typing`, `text-signal-<name>`). */
    getAttribute(name: 'data-status'): EntityState | null;
    /** The signals it holds, space-separated (`"typing"`), or null. */
    getAttribute(name: 'data-signals'): string | null;
    getAttribute(name: 'data-state'): 'loading' | 'live' | 'unreachable' | 'error' | null;
    getAttribute(name: string): string | null;
  }

  /** `<here-now-members>`: the faces of who is in a room. */
  interface MembersElement extends HTMLElement {
    /** `room`, `token`, `token-url`, `site`, `endpoint`, `max`, `text-*`. */
    getAttribute(name: 'data-state'): 'loading' | 'live' | 'unreachable' | 'error' | null;
    getAttribute(name: string): string | null;
  }
}

interface Window {
  /** Set by herenow.js (and by herenow.mjs when it is loaded first). */
  herenow: HereNow.Api;
}

interface HTMLElementTagNameMap {
  'here-now': HereNow.CounterElement;
  'here-now-status': HereNow.StatusElement;
  'here-now-members': HereNow.MembersElement;
}

interface DocumentEventMap {
  'herenow:count': CustomEvent<HereNow.CountEventDetail>;
}

declare module 'herenow' {
  const herenow: HereNow.Api;
  export default herenow;
  export function subscribe(options: HereNow.SubscribeOptions, callback: (counts: HereNow.CountUpdate | null) => void): HereNow.Unsubscribe;
  export function watch(options: HereNow.WatchOptions, callback: (status: HereNow.Status) => void): HereNow.Unsubscribe;
  export function members(options: HereNow.MembersOptions, callback: (members: HereNow.Members) => void): HereNow.Unsubscribe;
  export function track(options?: HereNow.TrackOptions): void;
  export function identify(entity: string, token: string | HereNow.GetToken | HereNow.TokenOptions): void;
  export function identify(entity: null): void;
  export function setRoom(room: string): void;
  export function signal(name: string): void;
  export function signalEnd(name: string): void;
  export function stop(): void;
  export function configure(defaults: HereNow.Defaults): void;
  export type Counts = HereNow.Counts;
  export type CountUpdate = HereNow.CountUpdate;
  export type Status = HereNow.Status;
  export type KnownStatus = HereNow.KnownStatus;
  export type Member = HereNow.Member;
  export type Members = HereNow.Members;
  export type MemberInfo = HereNow.MemberInfo;
  export type GetToken = HereNow.GetToken;
  export type Api = HereNow.Api;
}

declare module '*/herenow.mjs' {
  export * from 'herenow';
  export { default } from 'herenow';
}
