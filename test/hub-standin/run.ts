// The IoT Hub stand-in as a program, to try the agent's cloud path on a bench without Azure:
//   npx tsx test/hub-standin/run.ts [--device bedside-gw]
// It prints a config snippet (hub.mode device, connection string, the stand-in's TEST ONLY CA) to paste into an
// agent config, then one line per message the agent sends. Ctrl-C stops it. Not for production: its certificate and
// keys are test material.
import { STANDIN_CA_FILE } from './certs.js';
import { randomKey, startHubStandin } from './hub-standin.js';
import { describeMessage } from './telemetry.js';

const i = process.argv.indexOf('--device');
const deviceId = i > 0 ? process.argv[i + 1]! : 'bedside-gw';
const hub = await startHubStandin({ identities: [{ deviceId, key: randomKey() }] });
const cs = hub.connectionString(deviceId);
process.stdout.write(
  [
    `IoT Hub stand-in listening; device "${deviceId}". Put this in the agent's config:`,
    'hub:',
    '  mode: device',
    `  connectionString: "${cs}"`,
    `  caFile: ${STANDIN_CA_FILE}`,
    'Messages as they arrive (Ctrl-C to stop):',
    '',
  ].join('\n'),
);
let seen = 0;
const timer = setInterval(() => {
  for (const m of hub.messages) {
    if (m.seq <= seen) continue;
    process.stdout.write(`${describeMessage(m)}\n`);
    seen = m.seq;
  }
}, 500);
const stop = () => {
  clearInterval(timer);
  void hub.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
