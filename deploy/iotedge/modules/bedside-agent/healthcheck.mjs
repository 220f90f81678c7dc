// Container health check (Dockerfile HEALTHCHECK): asks the agent's own HTTP server for GET /healthz.
// Healthy means "the process answers": a degraded agent (hub unreachable, a device silent) still answers 200
// and stays healthy, because restarting it would not fix a cable or the uplink and would interrupt reading.
// Exit 0 = healthy, 1 = unhealthy (Docker's convention); the one line printed shows in `docker inspect`.
// It calls http://127.0.0.1:<port>/healthz, the port being AGENT_DISPLAY_PORT when the module's env sets it (it moves
// the display, so the check follows), else 8080. HEALTHCHECK_URL overrides the whole address, e.g.
// https://127.0.0.1:8443/healthz when display.tls is on. `--check` in the module warns when neither reaches the display.
import http from 'node:http';
import https from 'node:https';

const port = process.env.AGENT_DISPLAY_PORT?.trim() || '8080';
let url;
try {
  url = new URL(process.env.HEALTHCHECK_URL || `http://127.0.0.1:${port}/healthz`);
} catch {
  // One line in `docker inspect`, not a stack trace (the agent itself refuses a bad AGENT_DISPLAY_PORT at start).
  done(1, `unhealthy: cannot form the address from HEALTHCHECK_URL=${JSON.stringify(process.env.HEALTHCHECK_URL ?? '')} AGENT_DISPLAY_PORT=${JSON.stringify(port)}`);
}
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 4000);
// The agent's certificate names the gateway, not 127.0.0.1; we only skip verification when talking to ourselves.
const loopback = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname);

function done(code, message) {
  process.stdout.write(`${message}\n`);
  process.exit(code);
}

const client = url.protocol === 'https:' ? https : http;
const req = client.get(url, { timeout: timeoutMs, rejectUnauthorized: !loopback }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    if (body.length < 65536) body += chunk;
  });
  res.on('end', () => {
    if (res.statusCode !== 200) return done(1, `unhealthy: ${url.pathname} answered HTTP ${res.statusCode}`);
    try {
      const h = JSON.parse(body);
      done(0, `healthy: status=${h.status ?? '?'} forwarder=${h.forwarder?.state ?? '?'}`);
    } catch {
      done(1, `unhealthy: ${url.pathname} answered 200 without a JSON body`);
    }
  });
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
req.on('error', (err) => done(1, `unhealthy: ${url.href}: ${err.message}`));
