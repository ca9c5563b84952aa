/** The dashboard page: no build step, no framework; it reads ?key= from its own URL. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Scoville · live inventory</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #777; }
  table { border-collapse: collapse; margin-top: 16px; }
  th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  td.low { background: #fff3cd; }
  td.out { background: #f8d7da; }
  td.flash { outline: 2px solid #4a90d9; }
  .store { display: inline-block; margin-right: 12px; }
  .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: #c33; margin-right: 4px; }
  .dot.on { background: #2a2; }
  #error { color: #c33; }
</style>
</head>
<body>
<h1>🌶️ Scoville · live inventory</h1>
<div class="muted" id="meta">connecting…</div>
<div id="stores"></div>
<div id="error"></div>
<table id="grid"><thead></thead><tbody></tbody></table>
<script>
const key = new URLSearchParams(location.search).get('key') || '';
const cells = new Map();
let online = [];
const $ = (id) => document.getElementById(id);
function render(flash) {
  const stores = [...new Set([...cells.values()].map(c => c.store))].sort();
  const skus = [...new Set([...cells.values()].map(c => c.sku))].sort();
  const on = new Set(online.map(o => o.store));
  $('stores').innerHTML = stores.map(s => '<span class="store"><span class="dot' + (on.has(s) ? ' on' : '') + '"></span>' + s + '</span>').join('');
  $('grid').querySelector('thead').innerHTML = '<tr><th>SKU</th>' + stores.map(s => '<th>' + s + '</th>').join('') + '<th>total</th></tr>';
  $('grid').querySelector('tbody').innerHTML = skus.map(sku => {
    let total = 0;
    const tds = stores.map(s => {
      const c = cells.get(s + '|' + sku);
      if (!c) return '<td class="muted">–</td>';
      total += c.available;
      const cls = [c.available === 0 ? 'out' : c.available <= 3 ? 'low' : '', flash && flash.has(s + '|' + sku) ? 'flash' : ''].join(' ');
      return '<td class="' + cls + '" title="on hand ' + c.onHand + ', held ' + c.held + '">' + c.available + '</td>';
    }).join('');
    return '<tr><td>' + sku + '</td>' + tds + '<td><b>' + total + '</b></td></tr>';
  }).join('');
}
function put(list) { for (const c of list) cells.set(c.store + '|' + c.sku, c); }
const es = new EventSource('/dashboard/events?key=' + encodeURIComponent(key));
es.addEventListener('snapshot', (e) => { const s = JSON.parse(e.data); put(s.cells); online = s.online; $('meta').textContent = 'live · ' + cells.size + ' counters'; render(); });
es.addEventListener('cells', (e) => { const list = JSON.parse(e.data); put(list); render(new Set(list.map(c => c.store + '|' + c.sku))); $('meta').textContent = 'live · updated ' + new Date().toLocaleTimeString(); });
es.addEventListener('status', (e) => { online = JSON.parse(e.data).online; render(); });
es.onerror = () => { $('error').textContent = key ? 'connection lost, retrying…' : 'add ?key=<read key> to the URL'; };
es.onopen = () => { $('error').textContent = ''; };
</script>
</body>
</html>
`;
