// The desired-property examples in agent/control/README.md are applied as the twin path applies them, so that an
// operator who copies one gets it accepted (review rv91 M2: a serial `options.port` got the whole change rejected).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveOverlay } from './overlay.js';
import { validateConfig } from '../config/load.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../paths.js';

const readme = readFileSync(join(PACKAGE_ROOT, 'agent', 'control', 'README.md'), 'utf8');
/** The ```json blocks that are a desired document (`{ "agentConfig": … }`). */
const examples = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^\{\s*"agentConfig"/.test(b));

/** A gateway with the drivers the examples name: a ventilator on a serial line and a simulated ward. */
const local = () =>
  validateConfig(
    {
      gateway: { id: 'ward3-gw' },
      store: { path: '/tmp/readme-example/agent.db' },
      hub: { mode: 'module' },
      drivers: [
        { name: 'icu3-vent', type: 'medibus', options: { id: 'vent-3', path: '/dev/ttyBED01', model: 'evita-xl' } },
        { name: 'ward-sim', type: 'simulator' },
      ],
    },
    registry,
    'README example gateway',
  );

describe('agent/control/README.md desired-property examples', () => {
  it('has at least one', () => {
    expect(examples.length).toBeGreaterThanOrEqual(1);
  });
  examples.forEach((text, i) => {
    it(`example ${i + 1} is accepted over a gateway with the drivers it names`, () => {
      const { agentConfig } = JSON.parse(text) as { agentConfig: unknown };
      const r = resolveOverlay(local(), agentConfig, registry, local());
      expect(r.ok ? [] : r.problems).toEqual([]);
    });
  });
});
