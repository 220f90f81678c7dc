// Renders the configuration reference (docs/configuration.md) from the schemas themselves, so the document
// cannot drift from what the agent validates. `npm run config:docs` writes it; a test checks it is current.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from './schema.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../paths.js';

interface Node {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  const?: unknown;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  properties?: Record<string, Node>;
  items?: Node;
  oneOf?: readonly Node[];
  required?: readonly string[];
  /** A map (per bed, per device): the schema of every value, whatever its key. */
  additionalProperties?: boolean | Node;
  /** A map's keys; a `title` names the placeholder in the rows (`<bed>`). */
  propertyNames?: Node & { title?: string };
}

function typeOf(n: Node): string {
  if (n.enum) return n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' | ');
  if (n.const !== undefined) return `\`${JSON.stringify(n.const)}\``;
  if (n.oneOf) return n.oneOf.map(typeOf).join(' or ');
  if (n.type === 'object' && n.properties) return `{ ${Object.keys(n.properties).join(', ')} }`;
  if (n.type === 'array') return `array of ${n.items ? typeOf(n.items) : 'any'}`;
  return Array.isArray(n.type) ? n.type.join(' | ') : (n.type ?? 'any');
}

function limits(n: Node): string {
  const parts: string[] = [];
  if (n.minimum !== undefined) parts.push(`≥ ${n.minimum}`);
  // A bound that is itself excluded (a duration that must be above 0) was dropped from the reference (review rv91 L4).
  if (n.exclusiveMinimum !== undefined) parts.push(`> ${n.exclusiveMinimum}`);
  if (n.maximum !== undefined) parts.push(`≤ ${n.maximum}`);
  if (n.exclusiveMaximum !== undefined) parts.push(`< ${n.exclusiveMaximum}`);
  if (n.pattern) parts.push(`pattern \`${n.pattern}\``);
  return parts.join(', ');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(n: Node, prefix: string, out: string[]): void {
  for (const [name, child] of Object.entries(n.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const required = n.required?.includes(name) ? ' (required)' : '';
    const def = child.default !== undefined && !(typeof child.default === 'object' && child.default !== null && Object.keys(child.default).length === 0)
      ? `\`${JSON.stringify(child.default)}\``
      : '';
    out.push(`| \`${path}\`${required} | ${cell(typeOf(child))} | ${def} | ${cell([child.description ?? '', limits(child)].filter(Boolean).join(' '))} |`);
    inside(child, path, out);
  }
}

/** The rows of what a field holds: an object's fields, an array's items, a map's values. */
function inside(n: Node, path: string, out: string[]): void {
  if (n.type === 'object' && n.properties) rows(n, path, out);
  if (n.type === 'object' && typeof n.additionalProperties === 'object') mapRows(n, n.additionalProperties, path, out);
  if (n.type === 'array' && n.items?.properties) rows(n.items, `${path}[]`, out);
  if (n.type === 'array' && n.items?.oneOf?.every((o) => o.properties)) alternatives(n.items.oneOf, `${path}[]`, out);
}

/** A map's value as a row under a placeholder key (`alarms.news2.beds.<bed>`), then the value's own fields. */
function mapRows(map: Node, value: Node, path: string, out: string[]): void {
  const key = map.propertyNames?.title ?? 'key';
  const what = map.propertyNames?.description;
  const keyPath = `${path}.<${key}>`;
  const description = [what ? `The key: ${what}.` : '', value.description ?? '', limits(value)].filter(Boolean).join(' ');
  out.push(`| \`${keyPath}\` | ${cell(typeOf(value))} |  | ${cell(description)} |`);
  inside(value, keyPath, out);
}

/**
 * Items that are one of several object shapes (a Modbus bus is TCP or RTU): the fields they share once, then each
 * shape's own fields under the value that selects it, e.g. `options.buses[].host` (transport: "tcp").
 */
function alternatives(alts: readonly Node[], path: string, out: string[]): void {
  const same = (k: string) => alts.every((a) => a.properties?.[k] !== undefined && JSON.stringify(a.properties[k]) === JSON.stringify(alts[0]!.properties![k]));
  const shared = Object.keys(alts[0]!.properties!).filter((k) => same(k) && alts[0]!.properties![k]!.const === undefined);
  const pick = (n: Node, keys: string[]): Node => ({ ...n, properties: Object.fromEntries(keys.map((k) => [k, n.properties![k]!])) });
  rows(pick(alts[0]!, shared), path, out);
  // The field whose value selects the shape (transport: "tcp" | "rtu").
  const selectors = alts.map((a) => Object.entries(a.properties!).find(([, p]) => p.const !== undefined));
  if (selectors.every((s) => s && s[0] === selectors[0]![0])) {
    out.push(`| \`${path}.${selectors[0]![0]}\` (required) | ${cell(selectors.map((s) => `\`${JSON.stringify(s![1].const)}\``).join(' | '))} |  | Selects the fields below. |`);
  }
  for (const alt of alts) {
    const selector = Object.entries(alt.properties!).find(([, p]) => p.const !== undefined);
    const own = Object.keys(alt.properties!).filter((k) => !shared.includes(k) && k !== selector?.[0]);
    const before = out.length;
    rows(pick(alt, own), path, out);
    if (selector) {
      const when = ` (${selector[0]}: ${JSON.stringify(selector[1].const)})`;
      for (let i = before; i < out.length; i++) out[i] = out[i]!.replace(/^\| (`[^`]+`)/, (m, name: string) => `| ${name}${when}`);
    }
  }
}

function table(n: Node, prefix = ''): string {
  const out = ['| field | type | default | description |', '|---|---|---|---|'];
  rows(n, prefix, out);
  return out.join('\n');
}

export function renderConfigDocs(): string {
  const parts = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run config:docs` from agent/config/schema.ts and the drivers\' schemas. Do not edit. -->',
    '',
    'One YAML or JSON file, given with `--config FILE` or `AGENT_CONFIG`; without either the agent runs the embedded',
    'default `config/default.yaml`. Every field is validated at start; an error names the field and what is allowed,',
    'and the agent exits with code 2 before starting anything. Check a file without starting: `--check`.',
    '',
    '## Agent',
    '',
    table(configSchema as unknown as Node),
    '',
    '## Drivers',
    '',
    'Each entry of `drivers` has `name`, `type`, `enabled` and `options`; the options depend on the type.',
  ];
  for (const f of [...registry.values()].sort((a, b) => a.type.localeCompare(b.type))) {
    parts.push('', `### \`${f.type}\``, '', f.description, '', table(f.configSchema as Node, 'options'));
  }
  return parts.join('\n') + '\n';
}

export const CONFIG_DOCS_PATH = join(PACKAGE_ROOT, 'docs', 'configuration.md');

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(CONFIG_DOCS_PATH, renderConfigDocs());
  process.stdout.write(`wrote ${CONFIG_DOCS_PATH}\n`);
}
