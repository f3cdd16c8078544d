/**
 * Local validation of the model's JSON against the same JSON Schema sent as
 * `responseJsonSchema`, with Ajv: the server constrains decoding but honours only part of JSON
 * Schema (e.g. not `maxLength`), so a reply is trusted only after the full schema has been checked
 * here. Validators are compiled once per schema object.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  description?: string;
  [keyword: string]: unknown;
}

// Formats are hints to the model (Gemini supports `format`); they are not enforced here.
const ajv = new Ajv({
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  validateFormats: false,
});
// Gemini's non-standard key order hint.
ajv.addKeyword({ keyword: 'propertyOrdering', schemaType: 'array' });

const compiled = new WeakMap<object, ValidateFunction>();

/** The schema's validator; throws with Ajv's reason when the schema itself is invalid. */
export function validatorFor(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

const typeOf = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'array'
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? 'integer'
          : 'number'
        : typeof v;

/** `/items/0/line` as `$.items[0].line`. */
function pathOf(pointer: string): string {
  return (
    '$' +
    pointer
      .split('/')
      .slice(1)
      .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`))
      .join('')
  );
}

function describe(e: ErrorObject): string {
  const at = pathOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${at}.${String(p.missingProperty)}: missing`;
    case 'additionalProperties':
      return `${at}.${String(p.additionalProperty)}: not allowed`;
    case 'enum':
      return `${at}: ${JSON.stringify(e.data)?.slice(0, 40)} is not one of ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'type':
      return `${at}: expected ${[p.type].flat().join(' or ')}, got ${typeOf(e.data)}`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

/** Problems found, as `path: what`; empty when the value matches. */
export function checkSchema(schema: JsonSchema | object, value: unknown): string[] {
  const validate = validatorFor(schema);
  return validate(value) ? [] : (validate.errors ?? []).map(describe);
}
