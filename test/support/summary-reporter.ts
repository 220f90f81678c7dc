// Prints one closing line, `Tests: N passed, N failed, N skipped`, after vitest's own report, so that CI logs
// end with a plain, parseable summary of the run.
import type { Reporter, TestModule } from 'vitest/node';

export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * The counts of a run. A file that failed outside its tests (it did not load, or a beforeAll/afterAll hook threw)
 * counts as one failure more (review rv61: such runs ended "0 failed", the tests a failed beforeAll kept from running
 * counted as skipped). Tests that did not run stay skipped: they cannot be told from intended skips and todos.
 */
export function summarise(testModules: ReadonlyArray<TestModule>, unhandledErrors: number): Summary {
  const s: Summary = { passed: 0, failed: 0, skipped: 0 };
  for (const m of testModules) {
    let failedHere = 0;
    let notRun = 0;
    for (const t of m.children.allTests()) {
      const state = t.result().state;
      if (state === 'passed') s.passed += 1;
      else if (state === 'failed') failedHere += 1;
      else notRun += 1;
    }
    s.failed += failedHere;
    s.skipped += notRun;
    if (m.state() === 'failed' && failedHere === 0) s.failed += 1;
  }
  s.failed += unhandledErrors;
  return s;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const { passed, failed, skipped } = summarise(testModules, unhandledErrors.length);
    // Written after the default reporter's output: the last line of the run.
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
