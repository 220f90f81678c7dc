// Validates message bodies against the published cloud contract (agent/forward/schema/message-v1.schema.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { PACKAGE_ROOT } from '../../agent/paths.js';

const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'agent/forward/schema/message-v1.schema.json'), 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: false });
// ajv-formats is CommonJS; its default export arrives as the module namespace under NodeNext.
(addFormats as unknown as { default: (a: Ajv) => void }).default(ajv);
const validate = ajv.compile(schema);

/** Schema errors of one message body, as readable strings; empty when valid. */
export function messageSchemaErrors(body: unknown): string[] {
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
