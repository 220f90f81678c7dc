// Review rv149 H1: a serial driver's path that is a plug-order name (/dev/ttyUSB0) is warned of at --check and at
// every start, naming the field: after a reboot or a replug another bed's device can answer on it.
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { configWarnings } from './check.js';

const vent = (options: Record<string, unknown>) => ({ name: 'vent', type: 'medibus', options: { id: 'EVITA-1', ...options } });
const warned = (options: Record<string, unknown>, atStart: boolean) =>
  configWarnings(testConfig(tempDir(), { drivers: [{ name: 'sim', type: 'simulator' }, vent(options)] }), registry, atStart, {}).filter((w) => w.path.startsWith('drivers['));

describe('a plug-order serial port name (rv149 H1)', () => {
  it('/dev/ttyUSB0, /dev/ttyACM0: warned at --check and at start, naming the field and the stable names', () => {
    for (const path of ['/dev/ttyUSB0', '/dev/ttyACM0']) {
      for (const atStart of [false, true]) {
        const w = warned({ path }, atStart);
        expect(w, `${path} ${atStart}`).toEqual([{ path: 'drivers[1].options.path', message: expect.stringMatching(/plug-in order.*\/dev\/serial\/by-id\//) }]);
      }
    }
  });

  it('at start, a missing path is still left to the driver (it says it as it opens the port): only the name is warned of', () => {
    expect(warned({ path: '/dev/ttyUSB97' }, true)).toEqual([{ path: 'drivers[1].options.path', message: expect.not.stringMatching(/does not exist/) }]);
    expect(warned({ path: '/dev/ttyBED99' }, true)).toEqual([]);
  });

  it('a replay (its path is not opened): nothing', () => {
    expect(warned({ path: '/dev/ttyUSB0', replay: { file: 'x.jsonl' } }, false)).toEqual([]);
    expect(warned({ path: '/dev/ttyUSB0', replay: { file: 'x.jsonl' } }, true)).toEqual([]);
  });
});
