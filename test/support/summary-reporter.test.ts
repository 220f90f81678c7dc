// The run's last line counts a file that failed outside its tests (review rv61): a beforeAll that throws (Chromium
// missing) and an afterAll that throws (an agent that did not stop) ended the run "0 failed". A file with an ordinary
// failure counts it once, its skips and todos as skips (review rv62 L2). A real vitest run of
// three small files through the reporter.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../agent/paths.js';

const run = promisify(execFile);

describe('summary reporter', () => {
  // Inside the package, so that the nested run resolves vitest from its node_modules.
  mkdirSync(join(PACKAGE_ROOT, 'test-artifacts'), { recursive: true });
  const dir = mkdtempSync(join(PACKAGE_ROOT, 'test-artifacts', 'summary-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts a file whose beforeAll or afterAll failed as a failure, a failed test once, skips, todos and tests a failed hook kept from running as skipped', async () => {
    writeFileSync(join(dir, 'ok.test.ts'), "import { expect, it } from 'vitest';\nit('ok', () => expect(1).toBe(1));\nit.todo('later');\n");
    writeFileSync(join(dir, 'before.test.ts'), "import { beforeAll, expect, it } from 'vitest';\nbeforeAll(() => { throw new Error('setup failed'); });\nit('a', () => expect(1).toBe(1));\nit('b', () => expect(1).toBe(1));\n");
    writeFileSync(join(dir, 'after.test.ts'), "import { afterAll, expect, it } from 'vitest';\nafterAll(() => { throw new Error('cleanup failed'); });\nit('passes', () => expect(1).toBe(1));\n");
    writeFileSync(join(dir, 'mixed.test.ts'), "import { expect, it } from 'vitest';\nit('fails', () => expect(1).toBe(2));\nit('passes', () => expect(1).toBe(1));\nit.skip('skipped', () => undefined);\nit.todo('later');\n");
    writeFileSync(
      join(dir, 'vitest.config.ts'),
      `export default { test: { root: ${JSON.stringify(dir)}, include: ['*.test.ts'], reporters: [${JSON.stringify(join(PACKAGE_ROOT, 'test/support/summary-reporter.ts'))}] } };\n`,
    );
    const out = await run(process.execPath, [join(PACKAGE_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(dir, 'vitest.config.ts')], { cwd: PACKAGE_ROOT }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(out.code).toBe(1);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('Tests: 3 passed, 3 failed, 5 skipped');
  }, 60_000);
});
