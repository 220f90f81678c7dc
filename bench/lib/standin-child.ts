// The IoT Hub stand-in (test/hub-standin) in its own process, so that a benchmark's broker does not share an event
// loop with the agent it measures. Controlled over IPC by bench/lib/standin.ts.
import { randomKey, startHubStandin, type PubackPolicy } from '../../test/hub-standin/index.js';

type Command = { id: number; op: 'stats' | 'stop' | 'clear' } | { id: number; op: 'puback'; policy: PubackPolicy };

const key = randomKey();
const deviceId = 'bench-gw';
// Keep few bodies: the benchmark counts on the agent's side and in the stats.
const hub = await startHubStandin({ identities: [{ deviceId, key }], maxMessages: 200 });
let bytes = 0;
let seen = 0;
const reply = (id: number, value: unknown) => process.send!({ id, value });
process.on('message', (c: Command) => {
  switch (c.op) {
    case 'stats': {
      // Count what arrived since the last look (the recorded window is small).
      const stats = { ...hub.stats };
      for (const m of hub.messages) if (m.seq > seen) bytes += m.body.length;
      seen = hub.messages.at(-1)?.seq ?? seen;
      return reply(c.id, { ...stats, bodyBytes: bytes });
    }
    case 'puback':
      hub.setPubackPolicy(c.policy);
      return reply(c.id, null);
    case 'clear':
      hub.clearMessages();
      return reply(c.id, null);
    case 'stop':
      void hub.stop().then(() => {
        reply(c.id, null);
        process.exit(0);
      });
      return;
  }
});
process.send!({ ready: { port: hub.port, hostName: hub.hostName, caPem: hub.caPem, deviceId, key, connectionString: hub.connectionString(deviceId) } });
