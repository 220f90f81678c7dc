// The Chromium arrangement the display tests share, written once: one headless Chromium for the describe (or file) that
// calls browserSuite(), and pages and agents that are closed after the test that opened them.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { launchChromium, startDisplayAgent, type DisplayAgent } from './display-fixtures.js';

/** Where the browser tests leave screenshots for a person to look at (gitignored); made before the first test. */
export const ARTIFACTS = join(PACKAGE_ROOT, 'test-artifacts');

export interface BrowserSuite {
  /** The suite's Chromium (launched in beforeAll, closed with its profile in afterAll). */
  readonly ctx: BrowserContext;
  /** A new page whose uncaught errors fail the test; closed after the test. */
  newPage(): Promise<Page>;
  /** newPage() at `url` (in a 1280×860 viewport unless told), once the page says "Live". */
  openLive(url: string, viewport?: { width: number; height: number }): Promise<Page>;
  /** startDisplayAgent(), closed after the test. */
  startAgent(display?: Record<string, unknown>, extra?: Record<string, unknown>): Promise<DisplayAgent>;
}

/**
 * Registers the hooks: Chromium (`prefix` names its profile folder) launched before the first test and closed after
 * the last; after each test, the pages of newPage() and the agents of startAgent() are closed, then the test fails if
 * any of those pages threw. What a suite keeps across its tests (an agent, a relay) it closes in an afterAll of its own.
 */
export function browserSuite(prefix: string, opts: { viewport?: { width: number; height: number } } = {}): BrowserSuite {
  let browser: { ctx: BrowserContext; profile: string } | undefined;
  const pages: Page[] = [];
  const agents: DisplayAgent[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium(prefix, opts);
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterEach(async () => {
    for (const p of pages.splice(0)) await p.close();
    for (const d of agents.splice(0)) await d.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await browser?.ctx.close();
    if (browser) rmSync(browser.profile, { recursive: true, force: true });
  });

  const suite: BrowserSuite = {
    get ctx() {
      if (!browser) throw new Error('browserSuite: Chromium is launched in beforeAll, not yet');
      return browser.ctx;
    },
    async newPage() {
      const p = await suite.ctx.newPage();
      pages.push(p);
      p.on('pageerror', (e) => pageErrors.push(e.message));
      return p;
    },
    async openLive(url, viewport = { width: 1280, height: 860 }) {
      const p = await suite.newPage();
      await p.setViewportSize(viewport);
      await p.goto(url);
      await expect.poll(() => p.locator('#conn').textContent()).toBe('Live');
      return p;
    },
    async startAgent(display = {}, extra = {}) {
      const d = await startDisplayAgent(display, extra);
      agents.push(d);
      return d;
    },
  };
  return suite;
}
