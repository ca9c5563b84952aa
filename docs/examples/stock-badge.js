// A storefront page's live stock badge: reads once (cacheable), then follows
// the hub's SSE stream. Plain browser JavaScript; `EventSource` and `fetch`
// are the browser's (a test passes Node equivalents). Use a READ key here:
// it is visible to anyone who opens the page. Holds need a reserve key and
// belong on the shop's backend (see holdCart below).

/**
 * Calls onChange({ sku, available, stores }) with the current aggregate and
 * again after every change. Returns a function that stops watching.
 */
export function watchStock({ hubUrl, readKey, sku, onChange, EventSource = globalThis.EventSource, fetch = globalThis.fetch }) {
  const perStore = new Map();
  const emit = () => {
    let available = 0;
    for (const s of perStore.values()) available += s.available;
    onChange({ sku, available, stores: [...perStore.values()] });
  };
  fetch(`${hubUrl}/inventory/${encodeURIComponent(sku)}`, { headers: { authorization: `Bearer ${readKey}` } })
    .then((r) => (r.ok ? r.json() : { stores: [] }))
    .then((body) => {
      for (const s of body.stores) if (!perStore.has(s.storeId)) perStore.set(s.storeId, s);
      emit();
    });
  // EventSource cannot send headers: /stream takes the key as ?key=.
  const es = new EventSource(`${hubUrl}/stream?sku=${encodeURIComponent(sku)}&types=availability&key=${encodeURIComponent(readKey)}`);
  es.addEventListener('snapshot', (e) => {
    for (const s of JSON.parse(e.data).items) perStore.set(s.storeId, s);
    emit();
  });
  es.addEventListener('availability', (e) => {
    const s = JSON.parse(e.data);
    perStore.set(s.storeId, s);
    emit();
  });
  // The browser reconnects by itself and sends Last-Event-ID: nothing is missed.
  return () => es.close();
}

/** On the shop's backend (never in the page): hold a cart for 15 minutes. */
export async function holdCart({ hubUrl, reserveKey, cartKey, lines, fetch = globalThis.fetch }) {
  const r = await fetch(`${hubUrl}/reservations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reserveKey}`, 'content-type': 'application/json' },
    // The same idempotencyKey on a retry replays the first answer instead of holding twice.
    body: JSON.stringify({ idempotencyKey: cartKey, lines, ttlSeconds: 900 }),
  });
  const body = await r.json();
  if (r.status === 201) return { ok: true, reservation: body };
  return { ok: false, status: r.status, error: body.error };
}
