// Review rv121 L3: the body bounds (413 over display.limits.maxBodyBytes, 415 for a non-empty body that is not JSON)
// hold for every route, also those that read no body (a screen's ping, logout, the GETs); and L2: display.allowedOrigins
// entries are compared as the origin browsers send (lower-case host, no default port).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORDS, TOKENS, call, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

/** The status line the server answers a raw request with (sent as is: a declared body need not follow). */
function statusOf(url: string, text: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    let out = '';
    const done = () => {
      s.destroy();
      resolve(out.split('\r\n')[0] || '(no answer)');
    };
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.includes('\r\n\r\n')) done();
    });
    s.on('error', () => undefined);
    s.on('close', done);
    s.write(text);
  });
}

describe('body bounds on routes that read no body (review rv121 L3)', () => {
  let d: DisplayAgent;
  let host: string;
  beforeAll(async () => {
    d = await startDisplayAgent({ limits: { maxBodyBytes: 4096 }, screens: [{ name: 'sc-1', graceS: 30 }] });
    host = new URL(d.url).host;
  });
  afterAll(() => d.close());

  const post = (path: string, headers: string, body = '') =>
    statusOf(d.url, `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${TOKENS.clinician}\r\n${headers}\r\n${body}`);

  it('a declared body over the limit: 413 on a screen ping, logout and a GET, before anything is done', async () => {
    expect(await post('/api/screens/sc-1/alive', 'Content-Type: text/plain\r\nContent-Length: 1048576\r\n')).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await post('/api/logout', 'Content-Length: 1048576\r\n')).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await statusOf(d.url, `GET /api/ward HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1048576\r\n\r\n`)).toBe('HTTP/1.1 413 Payload Too Large');
    // The session token is still valid: the logout was refused, not done.
    expect((await call(d.url, 'GET', '/api/me', { token: TOKENS.clinician })).status).toBe(200);
  });

  it('a non-empty body that is not JSON: 415, declared or chunked', async () => {
    expect(await post('/api/screens/sc-1/alive', 'Content-Type: text/plain\r\nContent-Length: 5\r\n', 'hello')).toBe('HTTP/1.1 415 Unsupported Media Type');
    expect(await post('/api/logout', 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n', 'a=1')).toBe('HTTP/1.1 415 Unsupported Media Type');
    expect(await post('/api/screens/sc-1/alive', 'Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')).toBe('HTTP/1.1 415 Unsupported Media Type');
    // A chunked body over the limit, to a route that reads none.
    expect(await post('/api/logout', 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n', `2000\r\n${' '.repeat(0x2000)}\r\n0\r\n\r\n`)).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('empty or JSON bodies pass as before', async () => {
    expect(await post('/api/screens/sc-1/alive', 'Content-Length: 0\r\n')).toBe('HTTP/1.1 204 No Content');
    expect(await post('/api/screens/sc-1/alive', 'Content-Type: application/json\r\nContent-Length: 2\r\n', '{}')).toBe('HTTP/1.1 204 No Content');
    expect(await post('/api/screens/sc-1/alive', 'Transfer-Encoding: chunked\r\n', '0\r\n\r\n')).toBe('HTTP/1.1 204 No Content');
    expect((await call(d.url, 'POST', '/api/screens/sc-1/alive')).status).toBe(204);
    const token = (await call(d.url, 'POST', '/api/login', { body: { user: 'vera', password: PASSWORDS.viewer } })).json().token as string;
    expect((await call(d.url, 'POST', '/api/logout', { token })).status).toBe(200);
  });
});

describe('display.allowedOrigins compared as browsers send Origin (review rv121 L2)', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ allowedOrigins: ['https://Ward3.example.org:443', 'http://Proxy.example.org:8080'] })));
  afterAll(() => d.close());

  it('an entry with a default port or capitals allows the origin a browser sends', async () => {
    const r = await call(d.url, 'POST', '/api/login', { body: { user: 'vera', password: PASSWORDS.viewer }, headers: { Origin: 'https://ward3.example.org' } });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe('https://ward3.example.org');
    expect((await call(d.url, 'GET', '/api/ward', { headers: { Origin: 'http://proxy.example.org:8080' } })).status).toBe(200);
    // Others still refused.
    expect((await call(d.url, 'GET', '/api/ward', { headers: { Origin: 'https://ward3.example.org:8443' } })).status).toBe(403);
    expect((await call(d.url, 'GET', '/api/ward', { headers: { Origin: 'https://evil.example' } })).status).toBe(403);
  });
});
