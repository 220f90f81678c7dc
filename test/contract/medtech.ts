// Applies the MedTech service / IoMT FHIR connector mapping templates in deploy/fhir/ to messages, with the
// same expression language (JMESPath, via the `jmespath` package: the reference implementation of the
// specification that the service's JmesPath.Net also implements) and the same rules the service's open-source
// code applies (microsoft/iomt-fhir, src/lib/Microsoft.Health.Fhir.Ingest.Template: MeasurementExtractor.cs,
// JmesPathExpressionEvaluator.cs). It is a model of the service for testing our templates against our
// messages, not the service: the Observation it builds is only what the test needs to check codes and values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import jmespath from 'jmespath';
import { PACKAGE_ROOT } from '../../agent/paths.js';

export const DEVICE_MAPPING_PATH = join(PACKAGE_ROOT, 'deploy', 'fhir', 'devicecontent.json');
export const FHIR_MAPPING_PATH = join(PACKAGE_ROOT, 'deploy', 'fhir', 'fhirmapping.json');

// jmespath's search() takes and returns plain JSON; `unknown` keeps us honest about what comes back.
type Search = (data: unknown, expression: string) => unknown;
const search: Search = (data, expression) => jmespath.search(data as never, expression) as unknown;
// compile() is exported by the package but missing from @types/jmespath; it returns the expression's syntax tree.
const compile = (jmespath as unknown as { compile(expression: string): { type: string } }).compile;

export interface ValueSpec {
  valueName: string;
  valueExpression: string;
  required: boolean;
}

export interface CalculatedContent {
  typeName: string;
  defaultExpressionLanguage?: string;
  typeMatchExpression: string;
  deviceIdExpression: string;
  timestampExpression: string;
  patientIdExpression?: string;
  values: ValueSpec[];
}

export interface Coding {
  code: string;
  system: string;
  display?: string;
}

export interface CodeValueFhir {
  typeName: string;
  periodInterval: number;
  category?: { text?: string; codes: Coding[] }[];
  codes: Coding[];
  value: { valueName: string; valueType: string; unit?: string; code?: string; system?: string };
}

interface Container<T> {
  templateType: string;
  template: T;
}

/** Template type names match with or without the "Template" suffix, case-insensitively (TemplateContainer.cs). */
function isType(container: Container<unknown>, name: string): boolean {
  const t = container.templateType.toLowerCase();
  return t === name.toLowerCase() || `${t}template` === name.toLowerCase() || t === `${name}template`.toLowerCase();
}

export function loadDeviceMapping(path = DEVICE_MAPPING_PATH): CalculatedContent[] {
  const root = JSON.parse(readFileSync(path, 'utf8')) as Container<Container<CalculatedContent>[]>;
  if (!isType(root, 'CollectionContent')) throw new Error(`${path}: expected a CollectionContent template`);
  return root.template.map((c, i) => {
    if (!isType(c, 'CalculatedContent')) throw new Error(`${path}: template[${i}] is ${c.templateType}, expected CalculatedContent`);
    return c.template;
  });
}

export function loadFhirMapping(path = FHIR_MAPPING_PATH): CodeValueFhir[] {
  const root = JSON.parse(readFileSync(path, 'utf8')) as Container<Container<CodeValueFhir>[]>;
  if (!isType(root, 'CollectionFhir')) throw new Error(`${path}: expected a CollectionFhir template`);
  return root.template.map((c, i) => {
    if (!isType(c, 'CodeValueFhir')) throw new Error(`${path}: template[${i}] is ${c.templateType}, expected CodeValueFhir`);
    return c.template;
  });
}

/** An Event Hubs event as the service sees it: the message body parsed as JSON under `Body`. */
export interface DeviceEvent {
  Body: unknown;
  Properties?: Record<string, string>;
  SystemProperties?: Record<string, string>;
}

export interface Measurement {
  type: string;
  deviceId: string;
  occurrenceTimeUtc: string;
  patientId: string | null;
  properties: { name: string; value: string }[];
}

// JmesPath.Net hands each element of a *projection* to the template as its own match; any other result is one
// match. jmespath.js returns a projection as a plain array, so we accept only type-match expressions whose
// outermost node is a filter projection, where both agree.
function matchTokens(t: CalculatedContent, event: DeviceEvent): unknown[] {
  if (compile(t.typeMatchExpression).type !== 'FilterProjection') {
    throw new Error(`${t.typeName}: typeMatchExpression must end in a filter projection [?…] for one match per record`);
  }
  const r = search(event, t.typeMatchExpression);
  if (r === null || r === undefined) return [];
  return Array.isArray(r) ? r : [r];
}

/** The value of a single-value expression, null when absent (an array is refused below, as the service does). */
function selectToken(data: unknown, expression: string): unknown {
  return search(data, expression) ?? null;
}

function asString(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`expected a scalar, got ${JSON.stringify(v)}`);
}

/** The normalization stage: every template against the event; each match becomes one measurement. */
export function normalize(templates: CalculatedContent[], event: DeviceEvent): Measurement[] {
  const out: Measurement[] = [];
  for (const t of templates) {
    if ((t.defaultExpressionLanguage ?? 'JsonPath').toLowerCase() !== 'jmespath') {
      throw new Error(`${t.typeName}: this harness evaluates JMESPath templates only`);
    }
    for (const token of matchTokens(t, event)) {
      // The matched token is added to (a copy of) the event as `matchedToken` (MeasurementExtractor.MatchTypeTokens).
      const data = { ...event, matchedToken: token };
      const deviceId = asString(selectToken(data, t.deviceIdExpression));
      if (!deviceId) throw new Error(`${t.typeName}: unable to extract required value for DeviceIdExpression`);
      const ts = asString(selectToken(data, t.timestampExpression));
      const ms = ts === null ? NaN : Date.parse(ts);
      if (!Number.isFinite(ms)) throw new Error(`${t.typeName}: unable to extract required value for TimestampExpression (${ts})`);
      const properties: Measurement['properties'] = [];
      for (const v of t.values) {
        const value = asString(selectToken(data, v.valueExpression));
        if (value === null) {
          if (v.required) throw new Error(`${t.typeName}: unable to extract required value for [${v.valueName}]`);
          continue;
        }
        properties.push({ name: v.valueName, value });
      }
      out.push({
        type: t.typeName,
        deviceId,
        occurrenceTimeUtc: new Date(ms).toISOString(),
        patientId: t.patientIdExpression ? asString(selectToken(data, t.patientIdExpression)) : null,
        properties,
      });
    }
  }
  return out;
}

export interface Observation {
  resourceType: 'Observation';
  code: { coding: Coding[] };
  category: { text?: string; coding: Coding[] }[];
  effectiveDateTime: string;
  valueQuantity: { value: number; unit?: string; system?: string; code?: string };
  device: string;
  subject: string | null;
}

/** The FHIR conversion of one measurement (instant observations with a Quantity value only). */
export function toObservation(templates: CodeValueFhir[], m: Measurement): Observation {
  const t = templates.find((x) => x.typeName === m.type);
  if (!t) throw new Error(`no FHIR destination template for type ${m.type}`);
  if (t.periodInterval !== 0 || t.value.valueType !== 'Quantity') throw new Error(`${m.type}: only instant Quantity templates are modelled`);
  const prop = m.properties.find((p) => p.name === t.value.valueName);
  if (!prop) throw new Error(`${m.type}: the measurement has no value named ${t.value.valueName}`);
  const value = Number(prop.value);
  if (!Number.isFinite(value)) throw new Error(`${m.type}: ${prop.value} is not a number`);
  return {
    resourceType: 'Observation',
    code: { coding: t.codes },
    category: (t.category ?? []).map((c) => ({ ...(c.text !== undefined && { text: c.text }), coding: c.codes })),
    effectiveDateTime: m.occurrenceTimeUtc,
    valueQuantity: {
      value,
      ...(t.value.unit !== undefined && { unit: t.value.unit }),
      ...(t.value.system !== undefined && { system: t.value.system }),
      ...(t.value.code !== undefined && { code: t.value.code }),
    },
    device: m.deviceId,
    subject: m.patientId,
  };
}
