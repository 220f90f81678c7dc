// Ward alarm display: plain JavaScript, no build step. Data comes from the agent's API; live updates from
// /api/stream (server-sent events, read with fetch so that the bearer token can be sent as a header; no cookies).
// Everything the server sends is put on the page with textContent, never as HTML.
'use strict';

// First act: index.html says the page is not running (for when this script does not arrive, review rv132 M4); from
// here the script tells the link's state, starting with "Connecting…".
{
  const lost = document.getElementById('lost');
  lost.hidden = true;
  const what = document.getElementById('lost-what');
  if (what) what.textContent = 'Connection lost — values below are not live.';
  document.getElementById('lost-detail').textContent = 'Reconnecting…';
  const conn = document.getElementById('conn');
  conn.className = 'conn connecting';
  conn.textContent = 'Connecting…';
}

const RANK = { high: 3, medium: 2, low: 1 };
const STATE_TEXT = { active: 'ACTIVE', latched: 'LATCHED', acknowledged: 'ACK', 'audio-paused': 'AUDIO PAUSED' };
const WAVE_SECONDS = 8;
const VERDICT_TEXT = { 'likely-true': 'likely real', 'likely-false': 'likely false' };
/** The priority as a word beside the IEC marker: read from across the room, and not by its colour alone. */
const PRIORITY_WORD = { high: 'HIGH', medium: 'MEDIUM', low: 'LOW' };
/**
 * Data this many ms behind the server's clock is "Connection slow"; it is live again only once back under the lower
 * figure (no flicker at the edge). Far behind (more than the watchdog allows) the page drops the backlog and reconnects.
 */
const SLOW_MS = 3000;
const SLOW_CLEAR_MS = 1500;
/**
 * No byte from the server for this long means the link is dead: two of the server's heartbeats (its `hello` says how
 * often, 5 s by default) and 2 s of slack. Until a `hello` says so, the default's: the `hello` is the stream's first
 * event, so a feed that has not sent it within this has not started (a proxy holding the stream back, a hung gateway).
 */
let watchdogMs = 2 * 5000 + 2000;
/** The server's heartbeat period (ms), from `hello`: the next heartbeat is due at most this long after an event. */
let heartbeatMs = 0;
/**
 * A request (an action, a login, a report, a ping) not answered within this is given up on and said so: a browser
 * opens at most 6 connections to a host and every open tab's stream holds one, so with six tabs of the gateway open
 * a request waits in the browser's queue for good.
 */
const REQUEST_TIMEOUT_MS = 10000;
const QUERY = new URLSearchParams(location.search);
/** This screen's name in display.screens, from `?screen=` (null: a screen the gateway does not watch). */
const SCREEN = QUERY.get('screen') || null;
// `?size=large`: large type for a wall screen read from across the room (app.css, html.large).
if (QUERY.get('size') === 'large') document.documentElement.classList.add('large');

const state = {
  ward: null,
  beds: new Map(),
  gatewayAlarms: new Map(),
  offset: 0,
  auth: loadAuth(),
  selected: null,
  waves: new Map(),
  trends: [],
  live: false,
  /** Beds whose readings the gateway does not show, over display.maxBeds: `{ count, beds, maxBeds }` (ward snapshot, `dropped`). */
  droppedBeds: null,
  /** A stream asked for, its answer not come yet. */
  connecting: false,
  /** Live, but the data arrives more than SLOW_MS after the server sent it. */
  slow: false,
  /** Live, but the page's `seen` reports have gone unanswered for two heartbeats: its requests do not get out. */
  unanswered: false,
  /** A stream is open (live or still receiving its snapshot): the watchdog watches it. */
  streaming: false,
  lastByteAt: 0,
};

/**
 * The open stream's clock. An event's serverTime minus the page's time on receipt is the clocks' offset less the
 * event's delay on the way; the largest such figure on a stream is the best offset there is (its least delayed event).
 * Taking each event's own figure (as the page once did) moved the page's idea of "now" back with every late event,
 * so a screen 47 s behind showed values as "1 s ago" and nothing went stale. The page's side is a monotonic clock
 * (pageNow); reset with each stream, so a step of the server's clock is healed by a reconnect (which a step forward
 * causes: it looks like being far behind).
 */
let link = newLink();

/**
 * `reportOffset`: the clocks' offset as the server's answers to reportSeen put it (the least of them: each is high by
 * the report's own way up). The events alone cannot see a delay every event of the stream has had from its first
 * byte (a congested path, a reconnect into it): the server's figure can.
 */
function newLink() {
  // unansweredSince: when the oldest `seen` report still without an answer was sent (null: none waits).
  return { bestOffset: null, reportOffset: null, lastServerTime: 0, lastO: 0, lastLagMs: 0, stream: null, unansweredSince: null };
}

function linkOffset() {
  return link.reportOffset !== null && link.reportOffset > link.bestOffset ? link.reportOffset : link.bestOffset;
}

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/**
 * The page's own time for measuring against the server's: monotonic (performance.now), so that a step of the display
 * PC's wall clock (an NTP correction) is neither a slow link (a step forward made every later event look late until
 * the next stream) nor a change in the values' ages. On the wall clock's scale at page load.
 */
function pageNow() {
  return performance.timeOrigin + performance.now();
}

function serverNow() {
  return pageNow() + state.offset;
}

function fmtAge(s) {
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function fmtValue(v) {
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

// ---- Authentication (session token in sessionStorage: gone when the tab closes)
// Its expiresAt is on the page's own clock (pageNow): the login's time to live from when its answer came, so that a
// display PC whose clock is not the gateway's keeps its login as long as the gateway does (review rv151 F2).

function loadAuth() {
  try {
    const a = JSON.parse(sessionStorage.getItem('auth') || 'null');
    return a && a.expiresAt > pageNow() ? a : null;
  } catch {
    return null;
  }
}

function setAuth(a) {
  state.auth = a;
  if (a) sessionStorage.setItem('auth', JSON.stringify(a));
  else sessionStorage.removeItem('auth');
  renderAccount();
  renderAll();
}

/**
 * The server no longer knows this login (logged out elsewhere, expired, or the agent restarted): forget it and
 * reconnect at once, so that the screen goes on showing the ward (viewing: open) or says a login is needed.
 */
function dropSession() {
  setAuth(null);
  showMessage('Your session has ended; log in again.', true);
  reconnect();
}

function canAct() {
  return !!state.auth && (state.auth.role === 'clinician' || state.auth.role === 'admin');
}

function headers(json) {
  const h = {};
  if (state.auth) h.Authorization = `Bearer ${state.auth.token}`;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

/** A signal that aborts a request after REQUEST_TIMEOUT_MS (fetch then rejects, as when the gateway is unreachable). */
function giveUpSignal() {
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  return ctl.signal;
}

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), signal: giveUpSignal() });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.status === 401 && state.auth && path !== '/api/login') dropSession();
  // Retry-After in seconds (the gateway sends no dates): how long a refusal for now (429, 503) lasts.
  const retry = Number(res.headers.get('Retry-After'));
  return { status: res.status, data, retryAfterS: res.headers.has('Retry-After') && Number.isFinite(retry) ? retry : null };
}

function renderAccount() {
  const a = state.auth;
  $('who').textContent = a ? `${a.user} (${a.role})` : '';
  $('logout').hidden = !a;
  $('login-form').hidden = !!a;
}

let messageTimer = null;
function showMessage(text, error) {
  const m = $('message');
  m.textContent = text;
  m.className = error ? 'error' : '';
  m.hidden = false;
  clearTimeout(messageTimer);
  // An error (an action that did not happen) stays longer: the person may have looked away after pressing.
  messageTimer = setTimeout(() => (m.hidden = true), error ? 30000 : 6000);
}

/**
 * Device tokens (the gateway's answer to each login, per user name, in localStorage: kept past logout and the tab): sent
 * with that user's next login in this browser, so that a guesser's failures behind the same address (a ward's proxy or
 * NAT) do not keep her out of it. At most DEVICE_TOKENS_KEPT users, the least recently logged in dropped first (a shared
 * station); unreadable or unwritable storage just means logins without one.
 */
const DEVICE_TOKENS_KEPT = 32;
function deviceTokens() {
  try {
    const list = JSON.parse(localStorage.getItem('deviceTokens') || '[]');
    return Array.isArray(list) ? list.filter((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string') : [];
  } catch {
    return [];
  }
}
function keepDeviceToken(user, token) {
  if (typeof token !== 'string') return;
  const list = deviceTokens().filter(([u]) => u !== user);
  list.push([user, token]);
  try {
    localStorage.setItem('deviceTokens', JSON.stringify(list.slice(-DEVICE_TOKENS_KEPT)));
  } catch {
    // Storage full or refused: the next login goes without, under the address's limits.
  }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const user = $('login-user').value;
  const password = $('login-password').value;
  $('login-password').value = '';
  const deviceToken = deviceTokens().find(([u]) => u === user)?.[1];
  let r;
  try {
    r = await api('POST', '/api/login', deviceToken === undefined ? { user, password } : { user, password, deviceToken });
  } catch {
    showMessage('NOT logged in: the gateway did not answer. Try again.', true);
    return;
  }
  if (r.status === 200) {
    keepDeviceToken(r.data.user, r.data.deviceToken);
    // The time to live on the page's clock: the clocks' offset may not be known yet (viewing: authenticated gives no
    // stream before a login). A gateway that does not say it: its expiry less the offset, as before.
    const ttlMs = Number(r.data.ttlS) * 1000;
    const expiresAt = Number.isFinite(ttlMs) && ttlMs > 0 ? pageNow() + ttlMs : r.data.expiresAt - state.offset;
    setAuth({ token: r.data.token, user: r.data.user, role: r.data.role, expiresAt });
    showMessage(`Logged in as ${r.data.user} (${r.data.role}).`);
    reconnect();
  } else if (r.status === 429 || r.status === 503) {
    // Refused for now, in the gateway's words: a 429 may be another login from this address being checked (a shared
    // station, a proxy), not failed logins (review rv132 M3).
    const wait = r.retryAfterS === null ? '' : ` (wait ${fmtAge(Math.max(1, r.retryAfterS))})`;
    showMessage(`NOT logged in: ${r.data?.error ?? `the gateway answered ${r.status}`}${wait}.`, true);
  } else {
    showMessage(`Login failed: ${r.data?.error ?? r.status}`, true);
  }
});

$('logout').addEventListener('click', async () => {
  const a = state.auth;
  // Forgotten first: the server then closes the streams of this session, which is no news to this page.
  setAuth(null);
  reconnect();
  if (a) await fetch('/api/logout', { method: 'POST', headers: { Authorization: `Bearer ${a.token}` }, signal: giveUpSignal() }).catch(() => {});
});

// ---- Actions

// `body` says what the person saw (the alarm's priority, a bed's alarms): the agent refuses an action on an alarm
// that has become worse since, instead of applying it to something nobody has seen.
// `failed` names what did not happen ("NOT acknowledged"): a clinician must never be left believing it did.
// `about`: the alarm's text, for an answer that it is acknowledged or resolved already (alreadyText).
async function act(path, what, body = {}, failed = 'NOT done', about = '') {
  if (!canAct()) {
    showMessage('Log in as a clinician to do this.', true);
    return;
  }
  let r;
  try {
    r = await api('POST', path, body);
  } catch (err) {
    // Given up after REQUEST_TIMEOUT_MS, the request may have reached the gateway and been done (a request queued
    // behind other tabs' streams goes out late): not known, so not told as NOT done (review rv122 L1).
    if (err?.name === 'AbortError') showMessage(`Not known whether ${failed.replace(/\bNOT /, '').replace(/^./, (c) => c.toLowerCase())}: the gateway gave no answer within ${REQUEST_TIMEOUT_MS / 1000} s. Check the alarm before trying again.`, true);
    else showMessage(`${failed}: the gateway did not answer. Try again.`, true);
    return;
  }
  if (r.status === 200) {
    for (const c of r.data?.changes ?? []) answerChange(c);
    renderAll();
    showMessage(what);
  } else if (r.status === 403) showMessage(`${failed}: your role may not do this (clinician needed).`, true);
  else if (r.status === 401) showMessage(`${failed}: your session has ended; log in again.`, true);
  else if (r.data?.already) showMessage(alreadyText(r.data.already, about));
  else showMessage(`${failed}: ${r.data?.error ?? `the gateway answered ${r.status}`}`, true);
}

/**
 * The gateway refused because the alarm is acknowledged or resolved already (another screen pressed first): told
 * plainly, with who and when where the gateway says, not as a failure ("NOT acknowledged" in red for 30 s read as an
 * alarm still unanswered; review rv177 L1).
 */
function alreadyText(already, about) {
  const when = typeof already.acknowledgedAt === 'number' ? new Date(already.acknowledgedAt).toLocaleTimeString() : null;
  const who = [already.acknowledgedBy ? `by ${already.acknowledgedBy}` : '', when ? `at ${when}` : ''].filter(Boolean).join(' ');
  if (already.state === 'acknowledged' || when) return `Already acknowledged: ${about}${who ? ` (${who})` : ''}`;
  return `Already ended: ${about} (its condition ended; the alarm is closed)`;
}

/** The priority a row shows: 'none' for information (INFO), so that one the device has since made an alarm is refused. */
const shownPriority = (a) => (a.information ? 'none' : a.priority);

/**
 * What a row shows: its priority, and whether its condition was present (false: latched), so that a click meant for
 * an episode that had ended is refused when the condition has returned since (review rv162 F2).
 */
const shownAlarm = (a) => ({ priority: shownPriority(a), ...(typeof a.conditionPresent === 'boolean' && { conditionPresent: a.conditionPresent }) });

/** The alarm each row shows now: its buttons act on that (and the priority shown), whatever it was when drawn. */
const rowAlarm = new WeakMap();

function actionButton(kind, label) {
  const b = el('button', kind, label);
  b.type = 'button';
  b.addEventListener('click', (ev) => {
    ev.stopPropagation();
    const a = rowAlarm.get(b.closest('li.alarm'));
    if (!a) return;
    const id = encodeURIComponent(a.id);
    if (kind === 'ack') void act(`/api/alarms/${id}/ack`, `Acknowledged: ${a.text}`, shownAlarm(a), `NOT acknowledged (${a.text})`, a.text);
    else void act(`/api/alarms/${id}/audio-pause`, `Audio paused: ${a.text}`, shownAlarm(a), `Audio NOT paused (${a.text})`, a.text);
  });
  return b;
}

$('bed-pause').addEventListener('click', () => {
  if (!state.selected) return;
  const shown = (state.beds.get(state.selected)?.alarms ?? []).filter((a) => a.state !== 'acknowledged').map((a) => ({ id: a.id, ...shownAlarm(a) }));
  void act(`/api/beds/${encodeURIComponent(state.selected)}/audio-pause`, `Audio paused for ${state.selected}`, { alarms: shown }, `Audio NOT paused for ${state.selected}`);
});

// ---- Model updates

/** As the agent orders them (agent/alarms/engine.ts compareAlarms): priority, newest first, then the id's number. */
function sortAlarms(list) {
  return list.sort((a, b) => RANK[b.priority] - RANK[a.priority] || b.raisedAt - a.raisedAt || idOrder(a.id, b.id));
}

/**
 * A tile's rows as the agent orders them (agent/display/view.ts tileOrder): unacknowledged first, then as sortAlarms,
 * so an unanswered alarm the stream brings is not put below acknowledged ones (review rv188 H3).
 */
function sortTileAlarms(list) {
  return list.sort((a, b) => Number(b.state !== 'acknowledged') - Number(a.state !== 'acknowledged') || RANK[b.priority] - RANK[a.priority] || b.raisedAt - a.raisedAt || idOrder(a.id, b.id));
}

/**
 * A tile as the server sent it (snapshot, flush or bed answer, built with every alarm change up to `alarmSeq`): which
 * rows it had, so that a stream change of an alarm it counted in alarmsNotSent is taken off that count (leftNotSent),
 * not shown as a row and counted too.
 */
function sentTile(t, alarmSeq) {
  t.sentIds = new Set(t.alarms.map((a) => a.id));
  t.alarmSeq = typeof alarmSeq === 'number' ? alarmSeq : 0;
  t.uncounted = new Set();
  return t;
}

/**
 * An alarm the tile's server rows left out (open when the tile was built, not one of its rows) changed: it now has a
 * row, or has resolved; either way it is no longer one of those not shown. Taken off once, at its priority now (the
 * counts never go below 0); off the unacknowledged count unless it was acknowledged before this change.
 * Whether it was open when the tile was built is told by seq, not by time: its raisedAt is when the gateway received
 * it, which can be before a tile built without it (review rv190 L1). A change the tile was built with (an action's
 * answer that comes after the tile) is in its counts already; an alarm raised after it was never counted.
 */
function leftNotSent(t, c) {
  const n = t.alarmsNotSent;
  const a = c.alarm;
  if (!n?.total || !t.sentIds || t.sentIds.has(a.id) || t.uncounted.has(a.id)) return;
  if (typeof c.seq === 'number' && c.seq <= t.alarmSeq) return;
  t.uncounted.add(a.id);
  if (c.change === 'raised') return;
  const p = a.information ? 'information' : a.priority;
  const off = (c) => {
    if (!c?.total) return;
    c.total--;
    if (c[p] > 0) c[p]--;
  };
  off(n);
  if (c.from !== 'acknowledged') off(n.unacknowledged);
}

function idOrder(a, b) {
  const na = /-(\d+)$/.exec(a);
  const nb = /-(\d+)$/.exec(b);
  if (na && nb && na[1] !== nb[1]) return Number(nb[1]) - Number(na[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}

function tileFor(bed) {
  let t = state.beds.get(bed);
  if (!t) {
    // Made from an alarm change: the server sends the tile itself (readingsDropped) with its next flush.
    t = { bed, vitals: [], news2: null, alarms: [], devices: [], lastDataAt: null, readingsDropped: false };
    state.beds.set(bed, t);
  }
  return t;
}

/**
 * Which alarm changes the page has. The stream brings every change in the order they happened, and is applied as it
 * comes. An action's answer travels on another connection and may come after newer changes: it is applied only when
 * its change is newer, by the audit seq (engine order), than what the page has of that alarm. Not by `updatedAt`: the
 * engine stamps a reading's change with the time the reading was received, which can be before an action taken
 * while the reading waited for its commit (a HIGH rise was once left out behind the ack it undid).
 * `streamSeq`: the newest seq the stream has given (its snapshot includes every change up to its `alarmSeq`), so a
 * change at or below it is shown already; `answerSeq`: the newest seq applied from answers, per alarm (bounded).
 */
let streamSeq = 0;
const answerSeq = new Map();
const ANSWER_SEQ_MAX = 5000;

/** An alarm change from the stream: in order, applied as it comes. */
function streamChange(c) {
  if (typeof c.seq === 'number' && c.seq > streamSeq) streamSeq = c.seq;
  upsertAlarm(c);
}

/** An alarm change from an answer (an action, an observation): applied only when newer than what the page shows. */
function answerChange(c) {
  if (typeof c.seq !== 'number' || c.seq <= streamSeq || c.seq <= (answerSeq.get(c.alarm.id) ?? 0)) return;
  answerSeq.delete(c.alarm.id);
  answerSeq.set(c.alarm.id, c.seq);
  if (answerSeq.size > ANSWER_SEQ_MAX) answerSeq.delete(answerSeq.keys().next().value);
  upsertAlarm(c);
}

function upsertAlarm(c) {
  const a = c.alarm;
  keepPausedBy(a, a.bed === '*' ? state.gatewayAlarms.get(a.id) : state.beds.get(a.bed)?.alarms.find((x) => x.id === a.id));
  if (a.bed === '*') {
    if (a.state === 'resolved') state.gatewayAlarms.delete(a.id);
    else state.gatewayAlarms.set(a.id, a);
    return;
  }
  const t = tileFor(a.bed);
  const had = t.alarms.length;
  t.alarms = t.alarms.filter((x) => x.id !== a.id);
  if (t.alarms.length === had) leftNotSent(t, c);
  if (a.state !== 'resolved') t.alarms.push(a);
  sortTileAlarms(t.alarms);
}

/**
 * A change's alarm says who paused its audio only in the pause's own change (an annotation right after the model's
 * pause says null): the same pause (the same end time) keeps who made it. A new pause says who made it.
 */
function keepPausedBy(a, before) {
  if (a.audioPausedBy || a.state !== 'audio-paused' || !before?.audioPausedBy) return;
  if (before.state === 'audio-paused' && before.audioPausedUntil === a.audioPausedUntil) a.audioPausedBy = before.audioPausedBy;
}

function applyWard(w) {
  // The stream's snapshot (at each connect) is the page's state from here: it has every change up to its alarmSeq
  // (the engine's seq starts again when the agent restarts, so it is taken as it is, not as a maximum).
  streamSeq = typeof w.alarmSeq === 'number' ? w.alarmSeq : 0;
  answerSeq.clear();
  state.ward = w;
  state.droppedBeds = w.droppedBeds ?? null;
  state.beds = new Map(w.beds.map((t) => [t.bed, sentTile(t, w.alarmSeq)]));
  state.gatewayAlarms = new Map(w.gatewayAlarms.map((a) => [a.id, a]));
  $('title').textContent = `Ward ${w.gatewayId}`;
  $('site').textContent = w.site ?? '';
  const root = document.documentElement.style;
  for (const [p, v] of Object.entries(w.presentation)) {
    root.setProperty(`--${p}-colour`, v.colour);
    if (v.flashHz) root.setProperty(`--${p}-period`, `${Math.round(1000 / v.flashHz)}ms`);
  }
  renderAll();
}

// ---- Rendering
// Rows and tiles are updated in place, keyed by alarm id and bed: vitals arrive every 250 ms, and a row rebuilt
// between a finger's press and release took its button away, so the Ack was silently lost.

/**
 * Makes `parent`'s children the elements of `items` in order, keyed by `keyOf`: an item's element is kept and
 * updated (`update`), made (`make`) when new, removed when gone; one is moved only when out of order.
 */
function reconcile(parent, items, keyOf, make, update) {
  const old = new Map();
  for (const c of parent.children) if (c.dataset.key !== undefined) old.set(c.dataset.key, c);
  const want = items.map((it) => {
    const k = keyOf(it);
    let node = old.get(k);
    if (node) old.delete(k);
    else {
      node = make(it);
      node.dataset.key = k;
    }
    update(node, it);
    return node;
  });
  for (const c of [...parent.children]) if (c.dataset.key === undefined || old.has(c.dataset.key)) c.remove();
  want.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
  });
}

/** Flash period of a priority from the server's presentation (IEC_PRESENTATION), for the phase of new rows. */
function flashPeriodMs(priority) {
  const hz = state.ward?.presentation?.[priority]?.flashHz;
  return hz ? Math.round(1000 / hz) : priority === 'high' ? 476 : 1667;
}

/** An alarm row's fixed parts; `updateAlarmRow` fills them. `withBed`: the ward strip's link to the bed. */
function newAlarmRow(withButtons, withBed) {
  const li = el('li', 'alarm');
  if (withBed) li.append(el('a', 'bed'));
  const meta = el('span', 'meta');
  meta.append(el('span', 'badge escalated', 'ESCALATED'), el('span', 'unconfirmed'), el('span', 'model'), el('span', 'state'));
  if (withButtons) meta.append(actionButton('ack', 'Ack'), actionButton('pause', 'Pause'));
  // A technical alarm says so in a word (a glyph drawn by CSS depended on the font and was read out as nothing).
  const kind = el('span', 'kind', 'TECH');
  kind.title = 'Technical alarm: about the equipment or its data, not the patient\'s condition';
  li.append(el('span', 'prio'), kind, el('span', 'text'), meta);
  return li;
}

function updateAlarmRow(li, a) {
  rowAlarm.set(li, a);
  // Visual signal continues until acknowledged (IEC 60601-1-8: audio pause does not stop the visual signal).
  const flash = a.state !== 'acknowledged' && (a.priority === 'high' || a.priority === 'medium');
  const cls = `alarm ${a.priority} state-${a.state} ${a.category}${flash ? ' flash' : ''}${a.information ? ' info' : ''}`;
  if (li.className !== cls) {
    const flashedAlready = li.classList.contains('flash') && li.dataset.priority === a.priority;
    li.className = cls;
    // Every flashing row of a priority in phase, even rows drawn later; set once, when the row starts flashing.
    if (flash && !flashedAlready) li.style.animationDelay = `-${Date.now() % flashPeriodMs(a.priority)}ms`;
  }
  li.dataset.alarmId = a.id;
  li.dataset.state = a.state;
  li.dataset.priority = a.priority;
  const bed = li.querySelector(':scope > a.bed');
  if (bed) {
    setText(bed, a.bed);
    bed.href = `#/bed/${encodeURIComponent(a.bed)}`;
  }
  // A device's information signal has no alarm priority (IEC 60601-1-8): no priority marker, and it says so.
  const marker = a.information ? '' : (state.ward?.presentation?.[a.priority]?.marker ?? '');
  setText(li.querySelector('.prio'), `${marker} ${a.information ? 'INFO' : (PRIORITY_WORD[a.priority] ?? a.priority)}`.trim());
  setText(li.querySelector('.text'), a.text);
  li.querySelector('.kind').hidden = a.category !== 'technical';
  li.querySelector('.escalated').hidden = !a.escalated;
  updateUnconfirmedRow(li.querySelector('.unconfirmed'), a.unconfirmed);
  modelBadge(a.model, li.querySelector('.model'));
  const st = li.querySelector('.state');
  // The edge model's hold is told on the row, in words, not only in the model badge's tooltip: a wall screen shows
  // that the model, not a colleague, silenced it.
  const by = a.state === 'audio-paused' ? a.audioPausedBy : null;
  const held = by === 'model';
  const stCls = `state${by ? ` by-${by}` : ''}`;
  if (st.className !== stCls) st.className = stCls;
  // Its condition ended (latched): said while its audio is paused too, or a past condition reads as a current one.
  const latched = a.state === 'latched' || (a.state === 'audio-paused' && a.conditionPresent === false);
  if (a.state === 'audio-paused' && a.audioPausedUntil) {
    st.dataset.until = String(a.audioPausedUntil);
    st.dataset.by = by ?? '';
    st.dataset.latched = latched ? '1' : '';
    updatePaused(st);
  } else {
    delete st.dataset.until;
    delete st.dataset.by;
    delete st.dataset.latched;
    setText(st, `${latched && a.state !== 'latched' ? 'LATCHED · ' : ''}${STATE_TEXT[a.state] ?? a.state}`);
  }
  st.title = [
    latched ? 'Condition ended; waits for acknowledgement' : '',
    held ? [a.model?.note, 'The edge model holds the audio while it re-checks the evidence; Pause or Ack here ends its hold'].filter(Boolean).join('. ') : '',
  ].filter(Boolean).join('. ');
  li.title = `${a.source} alarm on ${a.deviceId}, raised ${new Date(a.raisedAt).toLocaleTimeString()}`;
  const ack = li.querySelector('button.ack');
  if (ack) {
    const pause = li.querySelector('button.pause');
    ack.hidden = pause.hidden = a.state === 'acknowledged';
    ack.disabled = !canAct();
    ack.title = canAct() ? 'Acknowledge this alarm' : 'Log in as a clinician to acknowledge';
    // During the model's hold a person may still pause: their pause replaces the model's (and ends its hold).
    pause.disabled = !canAct() || (a.state === 'audio-paused' && !held);
    pause.title = !canAct() ? 'Log in as a clinician to pause audio' : held ? 'Pause the audio of this alarm yourself (replaces the model\'s hold)' : 'Pause the audio of this alarm';
  }
}

/**
 * A condition its device no longer confirms (the server's `unconfirmed`: the device is silent or disconnected, and the
 * gateway keeps the alarm open meanwhile): said on the row, with how long, so that it is not read as current.
 */
function updateUnconfirmedRow(node, u) {
  node.hidden = !u;
  if (!u) {
    delete node.dataset.since;
    return;
  }
  node.dataset.since = String(u.since);
  node.dataset.kind = u.kind;
  node.title = u.kind === 'not-reported'
    ? `${u.text}: this sender reports an alarm's start and end only, so a lost end is not detected. Check the patient and the device.`
    : `${u.text} (found at ${new Date(u.since).toLocaleTimeString()}): the device has not confirmed this alarm since. ` +
      'It ends as not confirmed (latched if unanswered) if the device stays silent. Check the patient and the device.';
  updateUnconfirmed(node);
}

/** "NOT CONFIRMED 40 s: device silent", counting from when the gateway found it so (tickClock moves it on). */
function updateUnconfirmed(node) {
  const s = Math.max(0, (serverNow() - Number(node.dataset.since)) / 1000);
  if (node.dataset.kind === 'not-reported') setText(node, `NOT CONFIRMED: last reported ${fmtAge(s)} ago`);
  else setText(node, `NOT CONFIRMED ${fmtAge(s)}: device ${node.dataset.kind === 'connection' ? 'disconnected' : 'silent'}`);
}

/**
 * The edge model's advisory word on an alarm; details in the tooltip. A probability only with a verdict: where the
 * model could not judge (too little signal, not run) it says so and why, in words a wall screen shows without hovering
 * ("p 0.01" there read as "1 % likely real").
 */
function modelBadge(m, node) {
  node.hidden = !m;
  if (!m) return;
  let kind = 'other';
  let text = `model: ${m.verdict}`;
  if (Object.hasOwn(VERDICT_TEXT, m.verdict)) {
    kind = m.verdict;
    text = `model: ${VERDICT_TEXT[m.verdict]}${m.probability === null ? '' : ` · p ${m.probability.toFixed(2)}`}`;
  } else if (m.verdict === 're-assessing') {
    // The condition returned: the earlier episode's verdict (in the note) is not this one's.
    kind = 'not-assessed';
    text = 'model: re-assessing (the condition returned)';
  } else if (m.verdict === 'uncertain' || m.verdict === 'not-assessed') {
    kind = 'not-assessed';
    const reason = (m.note ?? '').replace(/^not assessed:\s*/, '');
    text = `model: not assessed${reason ? `: ${reason}` : ''}`;
  }
  node.className = `model verdict-${kind}`;
  setText(node, text);
  const about = [m.note, `Advisory only: the alarm stands. ${m.version ? `Model ${m.version}` : 'No model'}`];
  if (m.threshold !== null) about.push(`threshold ${m.threshold}`);
  if (kind === 'not-assessed' && m.probability !== null) about.push(`its output (${m.probability.toFixed(2)}) is not a judgement`);
  node.title = about.filter(Boolean).join('. ');
}

function vitalCell(v) {
  const d = el('div', `vital q-${v.quality}${v.setting ? ' setting' : ''}`);
  d.dataset.at = String(v.at);
  d.dataset.staleAfter = String(v.staleAfterS);
  d.append(el('span', 'label', v.label));
  const value = el('span', 'value', v.value === null ? '---' : fmtValue(v.value));
  if (v.value !== null && v.unit) value.append(el('span', 'unit', v.unit));
  d.append(value);
  const age = el('span', 'age');
  d.append(age);
  const reasons = v.reasons.length ? `: ${v.reasons.join(', ')}` : '';
  if (v.value === null) d.title = `${v.quality}${reasons}`;
  else if (v.setting) d.title = 'Set on the device, not measured';
  // A questionable value says why, on the screen and not only in a tooltip (its "?" alone does not).
  else if (v.quality === 'questionable') {
    d.title = `questionable${reasons}`;
    if (v.reasons.length) d.dataset.why = `? ${v.reasons.join(', ')}`;
  }
  updateAge(d);
  return d;
}

function updateAge(d) {
  const ageS = Math.max(0, (serverNow() - Number(d.dataset.at)) / 1000);
  const stale = ageS > Number(d.dataset.staleAfter);
  d.classList.toggle('stale', stale);
  const q = [...d.classList].find((c) => c.startsWith('q-'))?.slice(2);
  const why = q === 'invalid' || q === 'unavailable' ? `${q} · ` : d.dataset.why ? `${d.dataset.why} · ` : '';
  setText(d.querySelector('.age'), stale ? `STALE ${fmtAge(ageS)}` : `${why}${fmtAge(ageS)} ago`);
}

function news2Badge(n, node) {
  node.className = 'news2';
  if (!n) {
    node.textContent = 'NEWS2 —';
    node.title = 'No NEWS2 for this bed (no inputs, or switched off)';
    return node;
  }
  node.classList.add(`risk-${n.risk}`);
  if (n.partial) node.classList.add('partial');
  // "≥" also when consciousness or oxygen are assumed (alert, air: they score 0), as the monitors never send them.
  node.textContent = `NEWS2 ${n.partial || n.assumed.length ? '≥' : ''}${n.total}${n.scale === 2 ? ' (S2)' : ''}`;
  const notes = [];
  if (n.missing.length) notes.push(`missing: ${n.missing.join(', ')}`);
  if (n.stale.length) notes.push(`stale: ${n.stale.join(', ')}`);
  if (n.assumed.length) notes.push(`assumed: ${n.assumed.join(', ')}`);
  node.title = notes.join('; ') || 'all parameters measured';
  return node;
}

function topPriority(alarms) {
  // An information signal does not mark the tile as alarming.
  const open = alarms.filter((a) => a.state !== 'acknowledged' && !a.information);
  return open.length ? open[0].priority : null;
}

function newTile(bed) {
  const tile = el('article', 'tile');
  tile.dataset.bed = bed;
  const head = el('div', 'tile-head');
  head.append(el('h2', null, bed), el('span', 'news2'));
  const silent = el('div', 'silent-note');
  silent.hidden = true;
  const more = el('p', 'more');
  more.hidden = true;
  tile.append(head, silent, el('ul', 'alarms'), more, el('div', 'vitals'));
  tile.addEventListener('click', () => (location.hash = `#/bed/${encodeURIComponent(bed)}`));
  return tile;
}

function updateTile(tile, t) {
  const top = topPriority(t.alarms);
  const cls = top ? `tile top-${top}` : 'tile';
  if (tile.className !== cls) tile.className = cls;
  news2Badge(t.news2, tile.querySelector('.news2'));
  const silent = tile.querySelector('.silent-note');
  silent.dataset.lastDataAt = t.lastDataAt === null || t.lastDataAt === undefined ? '' : String(t.lastDataAt);
  // The server marks every such tile: the banner's list names only the first beds.
  silent.dataset.dropped = t.readingsDropped ? '1' : '';
  updateSilent(silent);
  const ul = tile.querySelector('ul.alarms');
  ul.hidden = !t.alarms.length;
  reconcile(ul, t.alarms, (a) => a.id, () => newAlarmRow(true, false), updateAlarmRow);
  notSentLine(tile.querySelector('.more'), t.alarmsNotSent);
  tile.querySelector('.vitals').replaceChildren(...t.vitals.map(vitalCell));
}

/** The server sends a bed's most urgent alarms only (a device flooding alarms): the rest are counted, never hidden. */
function notSentLine(node, n) {
  node.hidden = !n?.total;
  if (!n?.total) return;
  const parts = [[n.high, 'HIGH'], [n.medium, 'medium'], [n.low, 'low'], [n.information, 'info']].filter(([c]) => c > 0).map(([c, w]) => `${c} ${w}`);
  setText(node, `+ ${n.total} more alarm${n.total === 1 ? '' : 's'} not shown: ${parts.join(', ')}`);
}

/** "No data for …" moves with the clock (tickClock), not only when something else makes the tile change. */
function updateSilent(node) {
  // A bed over display.maxBeds shows its alarms only: its tile says why it has no values.
  if (node.dataset.dropped) {
    node.hidden = false;
    setText(node, 'Readings not shown: over display.maxBeds');
    return;
  }
  const at = node.dataset.lastDataAt;
  const silentS = at ? (serverNow() - Number(at)) / 1000 : 0;
  const show = !!at && silentS > (state.ward?.staleAfterS ?? 10);
  node.hidden = !show;
  if (show) setText(node, `No data for ${fmtAge(silentS)}`);
}

function renderWard() {
  const beds = [...state.beds.values()].sort((a, b) => a.bed.localeCompare(b.bed, 'en', { numeric: true }));
  reconcile($('ward'), beds, (t) => t.bed, (t) => newTile(t.bed), updateTile);
}

/**
 * The gateway's own alarms (store, hub, screens, restart list) stay in view on every page, as bed alarms do. The
 * heading counts them by priority; rows as many as the header has room for (fitStrips), the rest counted below them.
 */
function renderGatewayAlarms() {
  const ga = $('gateway-alarms');
  const list = sortAlarms([...state.gatewayAlarms.values()]);
  ga.hidden = !list.length;
  if (!list.length) fit.gateway = Infinity;
  let ul = ga.querySelector('ul.alarms');
  if (!ul) {
    ul = el('ul', 'alarms');
    ga.replaceChildren(el('h2'), ul, el('p', 'more'));
  }
  const rows = Math.min(list.length, fit.gateway);
  strips.gatewayWanted = list.length;
  strips.gateway = {
    out: rows > 0 ? { rank: fitRank(list[rows - 1]), to: rows - 1 } : null,
    in: rows < list.length ? { rank: fitRank(list[rows]), to: rows + 1 } : null,
  };
  reconcile(ul, list.slice(0, rows), (a) => a.id, () => newAlarmRow(true, false), updateAlarmRow);
  // The tallest row seen (a long text wraps): the room one more row may take (gatewayPitch).
  let rowHeight = list.length ? Number(ul.dataset.rowHeight ?? 0) : 0;
  for (const li of ul.children) rowHeight = Math.max(rowHeight, li.getBoundingClientRect().height);
  ul.dataset.rowHeight = String(rowHeight);
  setText(ga.querySelector('h2'), `Gateway alarms (${list.length}: ${countWords(list, 'MEDIUM')})`);
  const rest = list.slice(rows);
  const more = ga.querySelector('.more');
  more.hidden = !rest.length;
  setText(more, `+ ${rest.length} more gateway alarm${rest.length === 1 ? '' : 's'}: ${countWords(rest, 'MEDIUM')}`);
}

/**
 * Alarms counted by priority, highest first: "3 HIGH, 15 medium, 1 info" (`medium`: how the word for medium is
 * written: the gateway's heading says MEDIUM, the loudest it has as a rule).
 */
function countWords(list, medium = 'medium') {
  const count = (p) => list.filter((a) => a.priority === p && !a.information).length;
  const info = list.filter((a) => a.information).length;
  return [[count('high'), 'HIGH'], [count('medium'), medium], [count('low'), 'low'], [info, 'info']].filter(([n]) => n > 0).map(([n, w]) => `${n} ${w}`).join(', ');
}

function renderDetail() {
  const bed = state.selected;
  if (!bed) return;
  const t = tileFor(bed);
  $('detail-bed').textContent = bed;
  news2Badge(t.news2, $('detail-news2'));
  $('bed-pause').disabled = !canAct() || !t.alarms.some((a) => a.state !== 'acknowledged');
  renderObservations(t.news2);
  reconcile($('detail-alarms'), t.alarms, (a) => a.id, () => newAlarmRow(true, false), updateAlarmRow);
  let more = $('detail-alarms').nextElementSibling;
  if (!more?.classList.contains('more')) {
    more = el('p', 'more');
    $('detail-alarms').after(more);
  }
  notSentLine(more, t.alarmsNotSent);
  $('detail-vitals').replaceChildren(...t.vitals.map(vitalCell));
  $('detail-devices').textContent = t.devices.map((d) => `${d.deviceId}: ${d.state}${d.detail ? ` (${d.detail})` : ''}`).join(' · ');
}

/**
 * NEWS2's consciousness and oxygen as scored now. The selects show this bed's values (never the last bed's), are left
 * alone while someone is choosing, and the form is off where the bed has no NEWS2 (switched off, not yet scored, or the
 * unassigned devices). Only what the person changed is sent; with nothing changed, both are recorded as shown.
 */
const obs = { bed: null, touched: new Set() };
function renderObservations(n) {
  const form = $('obs-form');
  const usable = !!n && state.selected !== 'unassigned';
  form.hidden = !usable;
  if (!usable) return;
  form.querySelector('button').disabled = !canAct();
  // A recorded value older than 12 h is stale, not assumed (rv107 H2): say it is due, so the 'A' / 'air' the form
  // starts with is not taken for what was last recorded.
  const due = n.stale.filter((p) => p === 'consciousness' || p === 'oxygen');
  $('obs-note').textContent = [
    n.assumed.length ? `assumed: ${n.assumed.join(', ')}` : '',
    due.length ? `due again (recorded over 12 h ago): ${due.join(', ')}` : '',
  ].filter(Boolean).join('; ');
  const newBed = obs.bed !== state.selected;
  if (!newBed && form.contains(document.activeElement)) return;
  if (newBed) obs.touched.clear();
  obs.bed = state.selected;
  if (!obs.touched.has('consciousness')) $('obs-acvpu').value = n.consciousness ?? 'A';
  if (!obs.touched.has('oxygen')) $('obs-oxygen').value = n.oxygen ?? 'air';
}
$('obs-acvpu').addEventListener('change', () => obs.touched.add('consciousness'));
$('obs-oxygen').addEventListener('change', () => obs.touched.add('oxygen'));

$('obs-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const bed = state.selected;
  if (!bed || bed !== obs.bed) return;
  if (!canAct()) {
    showMessage('Log in as a clinician to do this.', true);
    return;
  }
  const all = { consciousness: $('obs-acvpu').value, oxygen: $('obs-oxygen').value };
  const body = obs.touched.size ? Object.fromEntries([...obs.touched].map((k) => [k, all[k]])) : all;
  let r;
  try {
    r = await api('POST', `/api/beds/${encodeURIComponent(bed)}/observations`, body);
  } catch (err) {
    if (err?.name === 'AbortError') showMessage(`Not known whether recorded for NEWS2 on ${bed}: the gateway gave no answer within ${REQUEST_TIMEOUT_MS / 1000} s. Check the bed's NEWS2 before trying again.`, true);
    else showMessage(`NOT recorded for NEWS2 on ${bed}: the gateway did not answer. Try again.`, true);
    return;
  }
  if (r.status === 200) {
    tileFor(bed).news2 = r.data.news2;
    for (const c of r.data.changes ?? []) answerChange(c);
    obs.touched.clear();
    document.activeElement?.blur();
    renderAll();
    showMessage(`Recorded for NEWS2 on ${bed}: ${Object.entries(body).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } else if (r.status === 403) showMessage('Your role may not do this (clinician needed).', true);
  else if (r.status !== 401) showMessage(`Refused: ${r.data?.error ?? r.status}`, true);
});

/** Rows in the ward alarm strip when no high alarm is beyond them; the rest are counted by priority. */
const STRIP_ROWS = 6;
/** High alarms shown at most (the strip must not push the ward off the screen); beyond, the count says "HIGH" loudly. */
const STRIP_MAX_HIGH = 10;

/**
 * Highest priority; within one, escalated first, then the oldest: an unanswered alarm is not pushed out by newer ones.
 * A device's information signal comes after every alarm.
 */
function stripOrder(a, b) {
  return Number(a.information) - Number(b.information) || RANK[b.priority] - RANK[a.priority] || Number(b.escalated) - Number(a.escalated) || a.raisedAt - b.raisedAt || (a.id < b.id ? -1 : 1);
}

/**
 * Unacknowledged alarms of every bed, on every view: beds stay in their places on the ward, so a high alarm of a bed
 * below the fold, of another bed while one bed is open, or of the open bed while its trends are scrolled to (its
 * detail list scrolls away; review rv132 H1), is still seen at once.
 * Every high alarm has a row (up to STRIP_MAX_HIGH, and the count says how many more are HIGH); lower ones fill up
 * to STRIP_ROWS.
 */
function renderWardAlarms() {
  const open = [];
  // Unanswered alarms a tile could not carry (more than its 20 rows unanswered): counted in the heading and "more".
  const notOnTiles = { total: 0, high: 0, medium: 0, low: 0, information: 0 };
  for (const t of state.beds.values()) {
    for (const a of t.alarms) if (a.state !== 'acknowledged') open.push(a);
    const u = t.alarmsNotSent?.unacknowledged;
    if (u) for (const k of Object.keys(notOnTiles)) notOnTiles[k] += u[k] ?? 0;
  }
  open.sort(stripOrder);
  const strip = $('ward-alarms');
  strip.hidden = !open.length && !notOnTiles.total;
  let ul = strip.querySelector('ul.alarms');
  if (!open.length && ul) {
    ul.style.minHeight = '';
    ul.dataset.tallest = '0';
    ul.dataset.rowHeight = '0';
  }
  if (!ul) {
    ul = el('ul', 'alarms wide');
    strip.replaceChildren(el('h2'), ul, el('p', 'more'));
  }
  if (!open.length) fit.bed = Infinity;
  const highs = open.filter((a) => a.priority === 'high').length;
  // As many rows as every high alarm wants (up to STRIP_MAX_HIGH) or STRIP_ROWS, and as the header has room for.
  const wanted = Math.max(STRIP_ROWS, Math.min(highs, STRIP_MAX_HIGH));
  const rows = Math.min(wanted, fit.bed);
  strips.bedWanted = open.length ? wanted : 0;
  // Fewer alarms than rows wanted: with all its rows the strip keeps room for the empty ones too (below). That room
  // is given up, or taken back, as one step, before (after) any alarm's row.
  const shown = Math.min(rows, open.length);
  const emptyKept = open.length > 0 && open.length < wanted && rows === wanted;
  strips.bed = {
    out: emptyKept ? { rank: 0, to: open.length } : shown > 0 ? { rank: fitRank(open[shown - 1]), to: shown - 1 } : null,
    in:
      shown < open.length && shown < wanted ? { rank: fitRank(open[shown]), to: shown + 1, rows: 1 }
      : open.length > 0 && open.length < wanted && !emptyKept ? { rank: 0, to: wanted, rows: wanted - open.length }
      : null,
  };
  reconcile(ul, open.slice(0, rows), (a) => a.id, () => newAlarmRow(false, true), updateAlarmRow);
  const allHighs = highs + notOnTiles.high;
  setText(strip.querySelector('h2'), `Alarms (${open.length + notOnTiles.total}${allHighs ? `, ${allHighs} high` : ''})`);
  const rest = open.slice(rows);
  const more = strip.querySelector('.more');
  // While the strip shows, it keeps room for all its rows and the "more" line, and does not get shorter: it sits above
  // the tiles, and a tile's button moving under a finger about to press (a new alarm's row, an acknowledged one
  // leaving) makes the press open another tile. Rows are of one height (CSS); only a wrapped row or highs beyond
  // STRIP_ROWS make it taller. Not on a screen with no room for the rows wanted (fitStrips): there the room is the
  // screen's, and what is left out is counted.
  more.style.visibility = rest.length || notOnTiles.total ? '' : 'hidden';
  let rowHeight = Number(ul.dataset.rowHeight ?? 0);
  for (const li of ul.children) rowHeight = Math.max(rowHeight, li.getBoundingClientRect().height); // fractional px
  ul.dataset.rowHeight = String(rowHeight);
  const gap = parseFloat(getComputedStyle(ul).rowGap) || 0;
  const tallest = rows < wanted ? 0 : Math.ceil(Math.max(Number(ul.dataset.tallest ?? 0), ul.getBoundingClientRect().height, rows * rowHeight + (rows - 1) * gap));
  ul.dataset.tallest = String(tallest);
  ul.style.minHeight = tallest ? `${tallest}px` : '';
  const offTiles = [[notOnTiles.high, 'HIGH'], [notOnTiles.medium, 'medium'], [notOnTiles.low, 'low'], [notOnTiles.information, 'info']].filter(([c]) => c > 0).map(([c, w]) => `${c} ${w}`).join(', ');
  const words = [countWords(rest), offTiles && `not on the tiles ${offTiles}`].filter(Boolean).join('; ');
  setText(more, `+ ${rest.length + notOnTiles.total} more: ${words}`);
  more.classList.toggle('has-high', notOnTiles.high > 0 || rest.some((a) => a.priority === 'high' && !a.information));
}

/**
 * The header (notice, bar, banners, both alarm strips) may take the height its CSS max-height gives (80 % of the
 * screen): the ward keeps the rest. `fit`: the rows the strips have room for on this screen now, Infinity for as many as
 * they want; `strips`: the rows they want, and for each strip the row it would give up next (`out`) and take back next
 * (`in`): its rank (fitRank), the `fit` that does it, and for a bed row taken back how many rows of room it needs
 * (renderWardAlarms, renderGatewayAlarms).
 */
const fit = { bed: Infinity, gateway: Infinity };
const strips = { bedWanted: 0, gatewayWanted: 0, bed: { out: null, in: null }, gateway: { out: null, in: null } };

/** A row's rank in the fit: its priority; a device's information signal below any alarm; empty room kept (0) below all. */
function fitRank(a) {
  return a.information ? 0.5 : RANK[a.priority];
}

/**
 * Fits the strips into the header's room: past it, the header would scroll inside itself, and what its bottom cut off
 * (the "+ N more" count, every gateway alarm) nobody would see: nobody scrolls a wall screen (review rv177 H1). Rows
 * go by priority across both strips, the lowest first, one at a time: a gateway row at or below the last bed row's
 * priority goes before it (a patient's row wins a tie), so a gateway MEDIUM row never keeps its place while a HIGH
 * bed row is only counted (review rv179 M2). Both counts stay (the "+ N more" line, HIGH loudly; the gateway
 * heading). Rows come back when there is room (an alarm answered, a banner gone, a larger window) the other way round:
 * the highest first, a bed row on a tie, and only when that one fits as measured (a smaller gateway row does not take
 * the room a HIGH bed row lacks), so the fit settles and a steady ward's rows stay put. Only a header that does not fit
 * with no rows at all (a tiny window in large type) scrolls.
 */
function fitStrips() {
  const top = $('top');
  const room = parseFloat(getComputedStyle(top).maxHeight);
  if (!Number.isFinite(room)) return;
  let shrunk = false;
  // One row a step: every row of both strips out (or in), the empty room kept as one more, and a last look.
  const steps = strips.bedWanted + strips.gatewayWanted + 2;
  for (let i = 0; i < steps; i++) {
    const over = top.scrollHeight - Math.floor(room);
    const { bed, gateway } = strips;
    if (over > 0) {
      shrunk = true;
      if (gateway.out && (!bed.out || gateway.out.rank <= bed.out.rank)) fit.gateway = gateway.out.to;
      else if (bed.out) fit.bed = bed.out.to;
      else return;
    } else if (shrunk) {
      return;
    } else if (bed.in && (!gateway.in || bed.in.rank >= gateway.in.rank)) {
      if (-over < bed.in.rows * bedPitch()) return;
      fit.bed = bed.in.to;
    } else if (gateway.in) {
      if (-over < gatewayPitch()) return;
      fit.gateway = gateway.in.to;
    } else {
      return;
    }
    renderWardAlarms();
    renderGatewayAlarms();
  }
}

/** The height one more strip row takes: the tallest row seen, else the rows' CSS min-height (2.9em). */
function bedPitch() {
  const ul = $('ward-alarms').querySelector('ul.alarms');
  if (!ul) return 1;
  const s = getComputedStyle(ul);
  return (Number(ul.dataset.rowHeight) || parseFloat(s.fontSize) * 2.9) + (parseFloat(s.rowGap) || 0);
}

/** The same for a gateway row: its tallest row seen, so a wrapped row that did not fit is not tried again each second. */
function gatewayPitch() {
  const ul = $('gateway-alarms').querySelector('ul.alarms');
  if (!ul) return 1;
  const s = getComputedStyle(ul);
  return (Number(ul.dataset.rowHeight) || parseFloat(s.fontSize) * 2.9) + (parseFloat(s.rowGap) || 0);
}

/** Both strips, fitted to the header's room. */
function renderStrips() {
  renderWardAlarms();
  renderGatewayAlarms();
  fitStrips();
}

/**
 * Beds over display.maxBeds: their readings never reach the page. Said on every view, so that nobody takes an empty
 * tile (or a missing bed) for a quiet one, and the engineer knows what to raise.
 */
function renderDropped() {
  const d = state.droppedBeds;
  const node = $('dropped');
  node.hidden = !d || !d.count;
  if (node.hidden) return;
  const more = d.count > d.beds.length ? ` and ${d.count - d.beds.length} more` : '';
  setText(node, `Readings of ${d.count} bed${d.count === 1 ? '' : 's'} are not shown (${d.beds.join(', ')}${more}): this display shows at most ${d.maxBeds} beds (display.maxBeds). Rely on the bedside monitors and tell biomedical engineering.`);
}

function renderAll() {
  renderDropped();
  renderStrips();
  if (state.selected) renderDetail();
  else renderWard();
}
// Another window size: the strips are fitted again (a banner that comes or goes too: setLive, updateFreshness,
// updateAnswered; and each second, for a line that wraps anew).
window.addEventListener('resize', renderStrips);

// ---- Waveform strip and trends (canvas)

function waveBuffer(chunk) {
  let w = state.waves.get(chunk.key);
  if (!w || w.rateHz !== chunk.rateHz) {
    // A new rate starts a new buffer in the same strip (not a second one).
    w = { key: chunk.key, label: chunk.label, unit: chunk.unit, rateHz: chunk.rateHz, samples: [], quality: 'valid', reasons: [], canvas: w?.canvas ?? null, node: w?.node ?? null, labelNode: w?.labelNode ?? null };
    state.waves.set(chunk.key, w);
  }
  w.samples.push(...chunk.samples);
  const max = Math.ceil(chunk.rateHz * WAVE_SECONDS);
  if (w.samples.length > max) w.samples.splice(0, w.samples.length - max);
  w.quality = chunk.quality;
  w.reasons = chunk.reasons;
  // When the gateway received the newest samples (its clock), and how long a chunk lasts: for "no data for …".
  w.at = chunk.at;
  w.chunkS = chunk.samples.length / chunk.rateHz;
  return w;
}

/** Seconds since this waveform's newest samples reached the gateway. */
function waveAgeS(w) {
  return Math.max(0, (serverNow() - w.at) / 1000);
}

/**
 * A waveform is drawn as live only while samples keep coming (within two chunks, at least 3 s) and the page is live:
 * the device's numerics can keep its feed "alive" while its waveform has stopped, and an old trace must not pass for
 * the patient's rhythm now.
 */
function waveIsCurrent(w) {
  return state.live && waveAgeS(w) <= Math.max(3, 2 * w.chunkS);
}

function drawWave(w) {
  if (!w.node) {
    w.node = el('div', 'wave');
    w.labelNode = el('div', 'wave-label');
    w.canvas = el('canvas');
    w.canvas.height = 120;
    w.node.append(w.labelNode, w.canvas);
    $('waves').append(w.node);
  }
  const poor = w.quality !== 'valid';
  const current = waveIsCurrent(w);
  w.drawnCurrent = current;
  w.node.classList.toggle('poor', poor);
  w.node.classList.toggle('no-data', !current);
  const why = !current ? (state.live ? ` — NO DATA for ${fmtAge(waveAgeS(w))}` : ' — NOT LIVE') : poor ? ` — ${w.quality}${w.reasons.length ? `: ${w.reasons.join(', ')}` : ''}` : '';
  setText(w.labelNode, `${w.label} ${w.unit ? `(${w.unit})` : ''} ${w.rateHz} Hz${why}`);
  const c = w.canvas;
  c.width = c.clientWidth || 800;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, c.width, c.height);
  const n = Math.ceil(w.rateHz * WAVE_SECONDS);
  const s = w.samples;
  if (s.length < 2) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s) {
    if (v === null) continue; // a gap: a sample the device sent as invalid
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi === -Infinity) return; // nothing but gaps
  if (hi - lo < 1e-6) {
    hi += 0.5;
    lo -= 0.5;
  }
  ctx.strokeStyle = poor || !current ? '#8b949e' : '#3fb950';
  if (!current) ctx.setLineDash([6, 6]); // dashed as well as grey: not a live trace
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  const x0 = c.width * (1 - s.length / n);
  let pen = false;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === null) {
      pen = false; // no line across samples the device marked invalid: a flat line there would read as signal
      continue;
    }
    const x = x0 + (i / n) * c.width;
    const y = c.height - 8 - ((s[i] - lo) / (hi - lo)) * (c.height - 16);
    if (pen) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    pen = true;
  }
  ctx.stroke();
}

let wavePending = false;
function scheduleWaves() {
  if (wavePending) return;
  wavePending = true;
  requestAnimationFrame(() => {
    wavePending = false;
    if (state.selected) for (const w of state.waves.values()) drawWave(w);
  });
}

function drawTrends() {
  const root = $('trends');
  root.replaceChildren();
  const now = serverNow();
  for (const t of state.trends) {
    const box = el('div', 'trend');
    const pts = t.points.filter((p) => p[1] !== null);
    const last = pts.length ? pts[pts.length - 1][1] : null;
    // From the first point to now, at least a minute.
    const span = Math.max(60, t.points.length ? (now - t.points[0][0]) / 1000 : 60);
    box.append(el('div', 'trend-label', `${t.label} ${t.unit} — last ${fmtAge(span)}${last === null ? ' (no valid value)' : ''}`));
    const c = el('canvas');
    c.height = 80;
    box.append(c);
    root.append(box);
    c.width = c.clientWidth || 320;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
    if (!pts.length) continue;
    let lo = Math.min(...pts.map((p) => p[1]));
    let hi = Math.max(...pts.map((p) => p[1]));
    if (hi - lo < 1) {
      hi += 1;
      lo -= 1;
    }
    const t0 = now - span * 1000;
    ctx.fillStyle = '#58a6ff';
    ctx.strokeStyle = '#58a6ff';
    ctx.beginPath();
    let pen = false;
    for (const [at, v] of t.points) {
      if (v === null) {
        pen = false; // a gap where the value was not valid
        continue;
      }
      const x = ((at - t0) / (span * 1000)) * c.width;
      const y = c.height - 6 - ((v - lo) / (hi - lo)) * (c.height - 12);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
      ctx.fillRect(x - 1, y - 1, 2, 2);
    }
    ctx.stroke();
    ctx.fillStyle = '#8b949e';
    ctx.fillText(fmtValue(hi), 4, 12);
    ctx.fillText(fmtValue(lo), 4, c.height - 4);
  }
}

async function loadBed(bed) {
  let r;
  try {
    r = await api('GET', `/api/beds/${encodeURIComponent(bed)}`);
  } catch {
    return; // no answer: asked again in 10 s; the stream keeps the alarms current meanwhile
  }
  if (r.status !== 200 || state.selected !== bed) return;
  // The alarms stay the stream's: its snapshot and changes keep them current, and this answer (the slowest request,
  // with trends and waveforms) may have been made before an alarm the stream has shown since.
  const old = state.beds.get(bed);
  // With what the stream's tile was sent with (sentTile), so that its count is not taken off twice.
  state.beds.set(bed, { ...(old ?? sentTile({ alarms: [] }, r.data.alarmSeq)), bed, vitals: r.data.vitals, news2: r.data.news2, alarms: old?.alarms ?? [], alarmsNotSent: old?.alarmsNotSent ?? r.data.alarmsNotSent,
    devices: r.data.devices, lastDataAt: r.data.lastDataAt, readingsDropped: r.data.readingsDropped });
  state.trends = r.data.trends;
  renderDetail();
  drawTrends();
}

// ---- Navigation

function route() {
  const m = /^#\/bed\/(.+)$/.exec(location.hash);
  let bed = null;
  if (m) {
    try {
      bed = decodeURIComponent(m[1]);
    } catch {
      // A hand-typed or cut-off link (`#/bed/50%`): the ward instead, and say why. It once stopped the script here,
      // before the live feed was asked for.
      showMessage(`This link names no bed that can be read (${location.hash.slice(0, 80)}): showing the ward.`, true);
      history.replaceState(null, '', '#/');
    }
  }
  if (bed === state.selected) return;
  state.selected = bed;
  state.waves = new Map();
  state.trends = [];
  $('waves').replaceChildren();
  $('trends').replaceChildren();
  $('ward').hidden = !!bed;
  $('detail').hidden = !bed;
  $('bed-head').hidden = !bed;
  renderAll();
  if (bed) void loadBed(bed);
  reconnect();
}
window.addEventListener('hashchange', route);
setInterval(() => {
  if (state.selected) void loadBed(state.selected);
}, 10000);

// ---- Live stream (SSE over fetch, with reconnect)

let controller = null;
let retryMs = 2000;
let reconnectTimer = null;
let failures = 0;
/** The login the open stream was opened with (null: anonymous). */
let streamAuth = null;

function setLive(live, detail) {
  state.live = live;
  state.slow = false;
  state.unanswered = false;
  document.body.classList.toggle('not-live', !live);
  document.body.classList.remove('behind');
  $('lost').hidden = live;
  $('slow').hidden = true;
  $('unanswered').hidden = true;
  if (!live && detail) $('lost-detail').textContent = detail;
  const c = $('conn');
  c.className = `conn ${live ? 'live' : 'lost'}`;
  c.textContent = live ? 'Live' : 'Connection lost';
  for (const w of state.waves.values()) if (w.node && w.drawnCurrent !== waveIsCurrent(w)) drawWave(w);
  renderStrips();
}

/** Takes the server's time of an event received now (see `link`). */
function sampleClock(serverTime) {
  const o = serverTime - pageNow();
  if (link.bestOffset === null || o > link.bestOffset) link.bestOffset = o;
  state.offset = linkOffset();
  link.lastServerTime = Math.max(link.lastServerTime, serverTime);
  link.lastO = o;
  link.lastLagMs = state.offset - o;
}

/**
 * How far behind the server what this page shows is: the delay of the last event, or more while the next heartbeat
 * is overdue (bytes may still trickle in, so the watchdog does not fire, while nothing new gets through).
 */
function behindMs() {
  if (!state.live || !link.lastServerTime) return 0;
  return Math.max(link.lastLagMs, serverNow() - link.lastServerTime - heartbeatMs);
}

/** "Connection slow — data N s behind" while behind; far behind, a fresh stream and snapshot instead of the backlog. */
function updateFreshness() {
  if (!state.live) return;
  const behind = behindMs();
  if (behind > watchdogMs) {
    controller?.abort();
    scheduleReconnect(`The live feed fell ${Math.round(behind / 1000)} s behind.`);
    return;
  }
  const slow = state.slow ? behind > SLOW_CLEAR_MS : behind > SLOW_MS;
  if (slow) setText($('slow-detail'), `data ${Math.round(behind / 1000)} s behind`);
  if (slow === state.slow) return;
  state.slow = slow;
  document.body.classList.toggle('behind', slow);
  $('slow').hidden = !slow;
  showLiveChip();
  renderStrips();
}

/** The bar's chip while live: the worse of "not answering" and "slow". */
function showLiveChip() {
  const c = $('conn');
  const [cls, text] = state.unanswered ? ['lost', 'Gateway not answering'] : state.slow ? ['slow', 'Connection slow'] : ['live', 'Live'];
  c.className = `conn ${cls}`;
  c.textContent = text;
}

/**
 * Live, but the `seen` reports unanswered for two heartbeats: the feed comes in, but what the page sends does not get
 * out (six tabs of the gateway in one browser, a proxy that passes only the stream), so Ack, Pause and login cannot
 * work. Said at once, not only when someone presses a button.
 */
function updateAnswered() {
  const unanswered = state.live && heartbeatMs > 0 && link.unansweredSince !== null && pageNow() - link.unansweredSince > 2 * heartbeatMs;
  if (unanswered === state.unanswered) return;
  state.unanswered = unanswered;
  $('unanswered').hidden = !unanswered;
  showLiveChip();
  renderStrips();
}

/**
 * Tells the server what this page has received on its stream (every heartbeat): one that falls far behind is
 * closed by the server, even when this page is too busy or stuck to notice.
 */
function reportSeen(serverTime) {
  if (!link.stream) return;
  const sent = link;
  const receivedAt = pageNow();
  if (link.unansweredSince === null) link.unansweredSince = receivedAt;
  fetch('/api/stream/seen', { method: 'POST', headers: headers(true), body: JSON.stringify({ stream: link.stream, serverTime }), cache: 'no-store', signal: giveUpSignal() })
    .then((r) => {
      // Any answer (a 404 too) says the page's requests get through.
      if (link === sent) link.unansweredSince = null;
      updateAnswered();
      return r.ok ? r.json() : null;
    })
    .then((j) => {
      if (!j || typeof j.behindMs !== 'number' || link !== sent) return;
      // The server's clock when this page received that heartbeat: its time plus how late it came (a little more).
      const offset = serverTime + j.behindMs - receivedAt;
      if (link.reportOffset === null || offset < link.reportOffset) link.reportOffset = offset;
      state.offset = linkOffset();
      link.lastLagMs = state.offset - link.lastO;
      updateFreshness();
    })
    .catch(() => {});
}

function reconnect() {
  if (controller) controller.abort();
  clearTimeout(reconnectTimer);
  void connect();
}

function scheduleReconnect(detail) {
  setLive(false, detail);
  clearTimeout(reconnectTimer);
  const delay = Math.min(retryMs * 2 ** Math.min(failures, 3), 15000);
  failures++;
  $('lost-detail').textContent = `${detail} Reconnecting in ${Math.round(delay / 1000)} s…`;
  reconnectTimer = setTimeout(() => void connect(), delay);
}

function handleEvent(event, data) {
  if (typeof data.serverTime === 'number') sampleClock(data.serverTime);
  switch (event) {
    case 'heartbeat':
      reportSeen(data.serverTime);
      break;
    case 'hello':
      link.stream = typeof data.stream === 'string' ? data.stream : null;
      if (Number(data.heartbeatS) > 0) heartbeatMs = Number(data.heartbeatS) * 1000;
      // Sent with a token the server did not know (viewing: open serves it anonymously): that login is over.
      if (data.user === null && streamAuth && state.auth === streamAuth) {
        setAuth(null);
        showMessage('Your session has ended; log in again.', true);
      }
      if (Number(data.heartbeatS) > 0) watchdogMs = Number(data.heartbeatS) * 2000 + 2000;
      if (SCREEN && Number(data.heartbeatS) > 0) startAlivePings(Number(data.heartbeatS) * 1000);
      break;
    case 'ward':
      applyWard(data);
      // Live once the snapshot is in, not at the first byte: on a slow link a large ward's snapshot takes seconds,
      // and until it is in, the screen shows what it had before.
      if (!state.live) setLive(true);
      // Reported at once, not at the first heartbeat: the server closes a stream that has not reported within
      // maxLagMs of opening (one whose reports never get out would otherwise hold its connection for good).
      reportSeen(link.lastServerTime);
      break;
    case 'vitals':
      for (const t of data.beds) state.beds.set(t.bed, sentTile(t, data.alarmSeq));
      renderAll();
      break;
    case 'alarm':
      for (const c of data.changes) streamChange(c);
      renderAll();
      break;
    case 'dropped':
      state.droppedBeds = data.droppedBeds;
      renderAll();
      break;
    case 'clock-stepped':
      // The gateway's clock stepped: this stream's server-time offset (the largest seen) is off by the step. A new
      // stream measures it afresh, and its snapshot has the instants the server moved (review rv147 F2).
      reconnect();
      break;
    case 'session-ended':
      // viewing: authenticated, and the session this stream was opened with was logged out or expired.
      if (state.auth && state.auth === streamAuth) dropSession();
      break;
    case 'wave':
      if (data.bed === state.selected) {
        waveBuffer(data);
        scheduleWaves();
      }
      break;
    default:
      break;
  }
}

let aliveTimer = null;
/**
 * An expected screen tells the gateway every heartbeat that this page runs: a screen switched off, unplugged or
 * hung stops, and the gateway raises its alarm (an open stream alone can outlive a dead screen by minutes).
 */
function startAlivePings(everyMs) {
  if (aliveTimer) clearInterval(aliveTimer);
  const ping = () => {
    const sent = state.auth;
    fetch(`/api/screens/${encodeURIComponent(SCREEN)}/alive`, { method: 'POST', headers: headers(false), cache: 'no-store', signal: giveUpSignal() })
      .then((r) => {
        if (r.status === 401 && sent && state.auth === sent) dropSession();
      })
      .catch(() => {});
  };
  aliveTimer = setInterval(ping, everyMs);
}

async function connect() {
  const ctl = new AbortController();
  controller = ctl;
  state.streaming = false;
  // Watched from here: a feed whose answer never comes is as lost as one that stops (the first load too: an empty
  // ward with no alarm must not stand there looking like a quiet one).
  state.connecting = true;
  state.lastByteAt = pageNow();
  const params = new URLSearchParams();
  if (state.selected) params.set('bed', state.selected);
  // A ward screen opened as `/?screen=<name>` tells the gateway who it is: the gateway alarms when an expected one is away.
  if (SCREEN) params.set('screen', SCREEN);
  // This page reports what it receives (/api/stream/seen): the gateway may then close it if no report gets out.
  params.set('reports', '1');
  const query = params.toString();
  const path = query ? `/api/stream?${query}` : '/api/stream';
  const sent = state.auth;
  let res;
  try {
    res = await fetch(path, { headers: headers(false), signal: ctl.signal, cache: 'no-store' });
  } catch {
    if (controller === ctl) state.connecting = false;
    if (!ctl.signal.aborted) scheduleReconnect('The gateway does not answer.');
    return;
  }
  if (controller === ctl) state.connecting = false;
  if (ctl.signal.aborted) return;
  if (res.status === 401) {
    // A login the server no longer knows: without it the ward may be open to view, so try again at once.
    if (sent && state.auth === sent) {
      dropSession();
      return;
    }
    setLive(false, 'Log in to view the ward.');
    $('conn').textContent = 'Log in to view';
    return;
  }
  if (res.status !== 200 || !res.body) {
    scheduleReconnect(`The gateway refused the live feed (${res.status}).`);
    return;
  }
  streamAuth = sent;
  link = newLink();
  state.streaming = true;
  if (!state.live) setText($('lost-detail'), 'Connected; receiving the ward…');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let first = true;
  state.lastByteAt = pageNow();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      state.lastByteAt = pageNow();
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('retry: ')) retryMs = Number(line.slice(7)) || retryMs;
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        if (first) {
          first = false;
          failures = 0;
        }
        handleEvent(event, JSON.parse(data));
        updateFreshness();
        if (ctl.signal.aborted) return;
      }
    }
  } catch {
    // aborted or the connection broke
  } finally {
    if (controller === ctl) state.streaming = false;
  }
  if (!ctl.signal.aborted) scheduleReconnect('The live feed ended.');
}

// Watchdog: a link that died without closing (cable pulled) shows as lost too; also one that dies while the
// snapshot is still coming.
setInterval(() => {
  if ((state.live || state.streaming || state.connecting) && pageNow() - state.lastByteAt > watchdogMs) {
    state.connecting = false;
    controller?.abort();
    scheduleReconnect('No data from the gateway.');
  }
}, 1000);

// A session ends at its expiry whether or not the server says so (it may be unreachable): the page forgets it then.
setInterval(() => {
  if (state.auth && pageNow() >= state.auth.expiresAt) dropSession();
}, 1000);

// Ages, staleness and audio-pause countdowns move with time, not only with data.
function tickClock() {
  updateFreshness();
  updateAnswered();
  $('clock').textContent = new Date(serverNow()).toLocaleTimeString();
  for (const d of document.querySelectorAll('.vital[data-at]')) updateAge(d);
  for (const n of document.querySelectorAll('.silent-note')) updateSilent(n);
  // A stopped waveform greys out and says for how long; one that comes back is drawn live again.
  for (const w of state.waves.values()) if (w.node && (!waveIsCurrent(w) || !w.drawnCurrent)) drawWave(w);
  for (const s of document.querySelectorAll('.state[data-until]')) updatePaused(s);
  for (const u of document.querySelectorAll('.unconfirmed[data-since]')) updateUnconfirmed(u);
  fitStrips();
}

const PAUSED_TEXT = { model: 'HELD BY MODEL', device: 'AUDIO PAUSED AT DEVICE' };

function updatePaused(s) {
  const left = Math.max(0, Math.round((Number(s.dataset.until) - serverNow()) / 1000));
  const what = Object.hasOwn(PAUSED_TEXT, s.dataset.by ?? '') ? PAUSED_TEXT[s.dataset.by] : 'AUDIO PAUSED';
  setText(s, `${s.dataset.latched ? 'LATCHED · ' : ''}${what} ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`);
}
setInterval(tickClock, 1000);

renderAccount();
tickClock();
try {
  route();
} finally {
  // Whatever routing does, the live feed is asked for (and so watched): a page that never connects shows nothing wrong.
  if (!controller) void connect();
}
