// Server-Sent Events over fetch, so the request can carry Authorization (EventSource cannot send headers).
// Reconnects with Last-Event-ID after a drop; stop() ends it. onEvent(name, data, id).
import { ensureAccess } from './api.js';
import * as session from './session.js';

export function subscribe(path, onEvent, { stopOn = () => false, retryMs = 2000 } = {}) {
  const ctl = new AbortController();
  let lastId = null, stopped = false;
  const stop = () => { stopped = true; ctl.abort(); };
  (async () => {
    while (!stopped) {
      try {
        await ensureAccess();
        const headers = { accept: 'text/event-stream' };
        if (session.accessToken()) headers.authorization = `Bearer ${session.accessToken()}`;
        if (lastId) headers['last-event-id'] = lastId;
        const r = await fetch(path, { headers, signal: ctl.signal, cache: 'no-store' });
        if (r.status === 204 || r.status === 403 || r.status === 404) return;
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '', ev = {};
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).replace(/\r$/, ''); buf = buf.slice(nl + 1);
            if (line === '') {
              if (ev.data !== undefined) {
                if (ev.id) lastId = ev.id;
                let data = ev.data; try { data = JSON.parse(ev.data); } catch { /* plain text */ }
                onEvent(ev.event || 'message', data, ev.id);
                if (stopOn(ev.event || 'message', data)) { stop(); return; }
              }
              ev = {};
            } else if (!line.startsWith(':')) {
              const i = line.indexOf(':'); const f = i < 0 ? line : line.slice(0, i);
              const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
              ev[f] = f === 'data' && ev.data !== undefined ? `${ev.data}\n${v}` : v;
            }
          }
        }
      } catch (e) { if (stopped) return; }
      await new Promise((res) => setTimeout(res, retryMs));
    }
  })();
  return stop;
}
