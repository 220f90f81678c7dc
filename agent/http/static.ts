// The display page: a handful of static files read once at start and served from memory (no path from the
// request ever reaches the file system).
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// From the package root, so that it is found both from sources and from dist/ (the build copies no assets).
export const PUBLIC_DIR = join(PACKAGE_ROOT, 'agent', 'http', 'public');

export interface StaticFile {
  body: Buffer;
  type: string;
}

export function loadStatic(dir = PUBLIC_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
