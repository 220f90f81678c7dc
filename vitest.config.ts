import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['agent/**/*.test.ts', 'drivers/**/*.test.ts', 'test/**/*.test.ts', 'models/**/*.test.ts'],
    // Native modules (better-sqlite3, serialport, onnxruntime) are happiest in child processes.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
