/**
 * The dashboard page, served at `/`: HTML, CSS and one inline module script;
 * no build step, no framework. It only uses the public read API:
 *
 * - `GET /stream` (SSE): the snapshot, then `availability`, `store` and `alert` events;
 * - `GET /presence/events` (SSE): the agents linked over Yjs and the terminals each
 *   announces in its awareness state, again on every change (presence-routes.ts);
 * - `GET /stores` (registered stores, online by their sync link), `GET /alerts?open=true`;
 * - `GET /catalog` for names and low-stock thresholds, `GET /replenishment` for velocity
 *   and days of cover; either may be missing (404): then SKU codes, and no velocity columns.
 *
 * The read key is asked once and kept in localStorage. It goes in the
 * Authorization header of fetches and, because EventSource cannot send
 * headers, as `?key=` on the two stream requests only; never in the page's URL.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Scoville · stores</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 24px; background: #1d232a; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  header .logo { color: #e74c3c; }
  header #status { color: #9aa4ae; flex: 1; }
  header #status.live::before { content: '● '; color: #3ecf6e; }
  header button { background: none; border: 1px solid #56606a; color: #cfd6dc; border-radius: 4px; cursor: pointer; }
  main, #login { padding: 16px 24px; }
  section { margin-bottom: 16px; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: #66707a; margin: 0 0 6px; }
  .store { display: inline-block; margin: 0 8px 6px 0; padding: 3px 10px; border-radius: 12px; background: #fff; border: 1px solid #dde1e5; }
  .store::before { content: '●'; margin-right: 6px; color: #c0392b; }
  .store.on::before { color: #27ae60; }
  .store small { color: #66707a; }
  .store .terminal { display: inline-block; margin-left: 4px; padding: 0 6px; border-radius: 8px; background: #eef0f2; font-size: 12px; }
  #alerts li { margin: 2px 0; }
  #alerts .kind { font-weight: 600; color: #c0392b; }
  #alerts .new { background: #fff3cd; }
  table { border-collapse: collapse; background: #fff; border: 1px solid #dde1e5; }
  th, td { padding: 5px 10px; border-bottom: 1px solid #eef0f2; text-align: right; white-space: nowrap; }
  th { font-size: 12px; color: #66707a; font-weight: 600; }
  th.l, td.l { text-align: left; }
  td.sku { font-family: ui-monospace, monospace; color: #66707a; }
  td.total { font-weight: 700; font-size: 15px; }
  td.low { background: #fff3cd; }
  td.out { background: #fde2e1; }
  td.deficit { background: #fde2e1; color: #c0392b; font-weight: 700; }
  td.flash { animation: flash 1s; }
  @keyframes flash { from { box-shadow: inset 0 0 0 2px #2f80ed; } to { box-shadow: none; } }
  .muted { color: #8a939c; }
  .error { color: #c0392b; }
  svg.spark { vertical-align: middle; }
</style>
</head>
<body>
<header><h1><span class="logo">◆</span> Scoville</h1><span id="status">not connected</span><button id="forget" hidden>forget key</button></header>
<form id="login" hidden>
  <p>Enter a read key (<code>sync-hub keys add --role read</code>). It is kept in this browser only.</p>
  <input id="key" type="password" autocomplete="off" placeholder="sk_…" size="40"> <button>Open</button>
  <p id="login-error" class="error"></p>
</form>
<main id="main" hidden>
  <section><h2>Stores</h2><div id="stores"></div></section>
  <section><h2>Open alerts</h2><ul id="alerts"></ul></section>
  <section><h2>Stock</h2><table id="grid"><thead></thead><tbody></tbody></table></section>
</main>
<script type="module">
const KEY_ITEM = 'scoville.readKey';
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

let key = localStorage.getItem(KEY_ITEM);
let stream = null;
let presenceStream = null;
let timers = [];
const stock = new Map();    // store + '\u0000' + sku → StoreStock (as in GET /inventory)
const stores = new Map();   // storeId → { online } (registered stores, online by their sync link)
let presence = new Map();   // storeId → [{ replica, url, terminals }] (agents linked over Yjs)
let catalog = new Map();    // sku → { name, lowStockThreshold }
let alerts = [];            // open alerts, newest first
let cover = null;           // sku → { series, days, store }; null: no /replenishment on this hub
const flashes = new Set();  // cells changed since the last render
let snapshotting = false;

class KeyRefused extends Error {}

/** A read with the key in a header; null when the route does not exist (404). */
async function api(path) {
  const res = await fetch(path, { headers: { authorization: 'Bearer ' + key } });
  if (res.status === 401 || res.status === 403) throw new KeyRefused();
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(path + ': ' + res.status);
  return res.json();
}

function showLogin(message) {
  stream?.close();
  presenceStream?.close();
  timers.forEach(clearInterval);
  timers = [];
  $('main').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('status').textContent = 'not connected';
  $('status').className = '';
  $('key').focus();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  key = $('key').value.trim();
  try {
    await api('/stores');
  } catch (err) {
    return showLogin(err instanceof KeyRefused ? 'The hub refused this key.' : 'The hub did not answer: ' + err.message);
  }
  localStorage.setItem(KEY_ITEM, key);
  $('key').value = '';
  start();
});
$('forget').addEventListener('click', () => {
  localStorage.removeItem(KEY_ITEM);
  key = null;
  showLogin();
});

function start() {
  $('login').hidden = true;
  $('main').hidden = false;
  $('forget').hidden = false;
  connect();
  const guard = (f) => () => f().catch((err) => (err instanceof KeyRefused ? forgetRefused() : console.warn(err)));
  [loadCatalog, loadAlerts, () => loadStores().then(loadCover)].forEach((f) => guard(f)());
  timers = [setInterval(guard(loadStores), 15000), setInterval(guard(loadCatalog), 60000), setInterval(guard(loadCover), 60000)];
}

function forgetRefused() {
  localStorage.removeItem(KEY_ITEM);
  showLogin('The hub refused the saved key (revoked?). Enter another.');
}

function connect() {
  stream?.close();
  stream = new EventSource('/stream?key=' + encodeURIComponent(key));
  stream.onopen = () => setStatus('live', true);
  stream.onerror = () => {
    setStatus('reconnecting…', false);
    // The browser retries by itself unless the answer was not a stream (401, 5xx): then ask why.
    if (stream.readyState === EventSource.CLOSED) setTimeout(() => api('/stores').then(connect, (err) => (err instanceof KeyRefused ? forgetRefused() : setTimeout(connect, 2000))), 1000);
  };
  stream.addEventListener('snapshot', (e) => {
    const part = JSON.parse(e.data);
    if (!snapshotting) stock.clear();
    snapshotting = !part.final;
    for (const s of part.items) stock.set(s.storeId + '\u0000' + s.sku, s);
    soon();
  });
  stream.addEventListener('availability', (e) => {
    const s = JSON.parse(e.data);
    const k = s.storeId + '\u0000' + s.sku;
    stock.set(k, s);
    flashes.add(k);
    if (catalog.size > 0 && !catalog.has(s.sku)) loadCatalog().catch(() => undefined);
    coverSoon();
    soon();
  });
  stream.addEventListener('store', (e) => {
    const s = JSON.parse(e.data);
    stores.set(s.storeId, { online: s.online });
    soon();
    loadStores().catch(() => undefined);
  });
  stream.addEventListener('alert', () => loadAlerts().catch(() => undefined));

  presenceStream?.close();
  presenceStream = new EventSource('/presence/events?key=' + encodeURIComponent(key));
  presenceStream.addEventListener('presence', (e) => {
    presence = new Map(JSON.parse(e.data).stores.map((s) => [s.storeId, s.agents]));
    soon();
  });
  // A hub without presence (404) or a refused key: stop asking; the main stream reports the key.
  presenceStream.onerror = () => presenceStream.readyState === EventSource.CLOSED && (presence = new Map());
}

function setStatus(text, live) {
  $('status').textContent = live ? 'live · ' + new Date().toLocaleTimeString() : text;
  $('status').className = live ? 'live' : '';
}

async function loadStores() {
  const body = await api('/stores');
  for (const s of body?.stores ?? []) if (s.revokedAt === null || s.revokedAt === undefined) stores.set(s.storeId, { online: s.online });
  soon();
}

async function loadCatalog() {
  const body = await api('/catalog');
  catalog = new Map((body?.items ?? []).map((i) => [i.sku, i]));
  soon();
}

let seenAlerts = new Set();
async function loadAlerts() {
  const body = await api('/alerts?open=true&limit=50');
  const fresh = seenAlerts.size > 0 || alerts.length > 0;
  alerts = (body?.alerts ?? []).map((a) => ({ ...a, isNew: fresh && !seenAlerts.has(a.id) }));
  seenAlerts = new Set(alerts.map((a) => a.id));
  soon();
}

/**
 * Velocity and days of cover, if this hub serves GET /replenishment: {storeId, lines: [{sku,
 * velocity: {d1, d7, d28}, daysOfCover}]} per store (asked per store when it wants ?storeId=).
 */
async function loadCover() {
  let bodies;
  try {
    bodies = [await api('/replenishment')];
  } catch (err) {
    if (err instanceof KeyRefused) throw err;
    bodies = await Promise.all([...stores.keys()].map((s) => api('/replenishment?storeId=' + encodeURIComponent(s)).catch(() => undefined)));
  }
  if (bodies.every((b) => b === null)) return void (cover = null);
  cover = new Map();
  for (const body of bodies.flatMap((b) => b?.stores ?? (b ? [b] : []))) {
    for (const l of body.lines ?? []) {
      const c = cover.get(l.sku) ?? { series: [], days: null, store: null };
      // Units a day over the last 28, 7 and 1 days, summed over stores: the sparkline, oldest window first.
      const v = [l.velocity?.d28, l.velocity?.d7, l.velocity?.d1].map((x) => (typeof x === 'number' ? x : 0));
      c.series = v.map((x, i) => x + (c.series[i] ?? 0));
      if (typeof l.daysOfCover === 'number' && (c.days === null || l.daysOfCover < c.days)) Object.assign(c, { days: l.daysOfCover, store: l.storeId ?? body.storeId ?? null });
      cover.set(l.sku, c);
    }
  }
  soon();
}

let coverTimer = null;
/** Velocities move with sales: ask again at most every 5 s while stock changes. */
function coverSoon() {
  if (cover === null) return;
  coverTimer ??= setTimeout(() => {
    coverTimer = null;
    loadCover().catch(() => undefined);
  }, 5000);
}

function spark(series) {
  const max = Math.max(...series, 0.001);
  const pts = series.map((y, i) => (i * 60) / (series.length - 1) + ',' + (18 - (y / max) * 16).toFixed(1)).join(' ');
  return '<svg class="spark" width="60" height="20"><polyline fill="none" stroke="#2f80ed" stroke-width="1.5" points="' + pts + '"/></svg> ' + series[1].toFixed(1) + '/d';
}

let pending = null;
/** Renders at most ten times a second, whatever the rate of events. */
function soon() {
  pending ??= setTimeout(() => {
    pending = null;
    render();
  }, 100);
}

function render() {
  if (stream?.readyState === EventSource.OPEN) setStatus('live', true);
  const storeIds = [...new Set([...stores.keys(), ...[...stock.values()].map((s) => s.storeId)])].sort();
  $('stores').innerHTML = [...new Set([...storeIds, ...presence.keys()])]
    .sort()
    .map((id) => {
      const agents = presence.get(id) ?? [];
      // Online: an agent linked over Yjs, or the store's sync link up (a store without agent never is).
      const online = agents.length > 0 || (stores.get(id)?.online ?? [...stock.values()].some((x) => x.storeId === id && x.online));
      const terminals = [...new Set(agents.flatMap((a) => a.terminals))].sort();
      const title = agents.map((a) => 'agent ' + a.replica + (a.url ? ' at ' + a.url : '')).join('\n');
      const what = !online ? 'offline' : terminals.length === 0 ? 'online · no terminal seen' : terminals.length + ' terminal' + (terminals.length === 1 ? '' : 's');
      return '<span class="store ' + (online ? 'on' : 'off') + '" data-store="' + esc(id) + '" title="' + esc(title) + '">' + esc(id) + ' <small>' + what + '</small>' + (online ? terminals.map((t) => '<span class="terminal">' + esc(t) + '</span>').join('') : '') + '</span>';
    })
    .join('');
  $('alerts').innerHTML = alerts.length
    ? alerts.map((a) => '<li class="' + (a.isNew ? 'new' : '') + '"><span class="kind">' + esc(a.kind) + '</span> ' + esc(a.storeId) + ' · ' + esc(name(a.sku)) + ' <span class="muted">since ' + new Date(a.raisedAt).toLocaleTimeString() + ' ' + esc(detail(a.detail)) + '</span></li>').join('')
    : '<li class="muted">none</li>';

  const skus = [...new Set([...stock.values()].map((s) => s.sku))].sort();
  $('grid').querySelector('thead').innerHTML =
    '<tr><th class="l">product</th><th class="l">SKU</th><th>available</th>' + storeIds.map((s) => '<th>' + esc(s) + '</th>').join('') + (cover ? '<th class="l">sales/day</th><th>days of cover</th>' : '') + '</tr>';
  $('grid').querySelector('tbody').innerHTML = skus
    .map((sku) => {
      let total = 0;
      let deficit = 0;
      const low = catalog.get(sku)?.lowStockThreshold ?? 3;
      const cells = storeIds.map((store) => {
        const k = store + '\u0000' + sku;
        const s = stock.get(k);
        if (!s) return '<td class="muted">–</td>';
        total += s.available;
        deficit += s.deficit;
        const cls = s.deficit > 0 ? 'deficit' : s.available === 0 ? 'out' : s.available <= low ? 'low' : '';
        const shown = s.deficit > 0 ? '−' + s.deficit : String(s.available);
        const title = 'on hand ' + s.onHand + ', held ' + s.held + ', safety stock ' + s.safetyStock;
        return '<td class="' + cls + (flashes.has(k) ? ' flash' : '') + '" data-store="' + esc(store) + '" title="' + title + '">' + shown + '</td>';
      });
      const c = cover?.get(sku);
      const extra = cover ? '<td class="l velocity" title="units a day over the last 28, 7 and 1 days, all stores; the figure: 7 days">' + (c ? spark(c.series) : '') + '</td><td class="cover">' + (c?.days != null ? c.days.toFixed(1) + (c.store ? ' <small class="muted">' + esc(c.store) + '</small>' : '') : '') + '</td>' : '';
      const totalCls = total === 0 ? 'total out' : 'total';
      return '<tr data-sku="' + esc(sku) + '"><td class="l name">' + esc(name(sku)) + '</td><td class="l sku">' + esc(sku) + '</td><td class="' + totalCls + '" title="deficit ' + deficit + '">' + total + (deficit > 0 ? ' <small class="error">(−' + deficit + ')</small>' : '') + '</td>' + cells.join('') + extra + '</tr>';
    })
    .join('');
  flashes.clear();
}
const name = (sku) => catalog.get(sku)?.name ?? sku;
/** An alert's figures as "on hand -2 · deficit 2" (nested values left out). */
const detail = (d) =>
  Object.entries(d ?? {})
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => k.replace(/[A-Z]/g, (c) => ' ' + c.toLowerCase()) + ' ' + v)
    .join(' · ');

if (key) start();
else showLogin();
</script>
</body>
</html>
`;
