/**
 * Minimal-diff YAML edits. The `yaml` package parses with source ranges; instead of
 * re-serialising a document (which reflows quoting, comments and spacing), each change is a
 * splice of the original text at the range of one scalar, or one inserted or removed line, so
 * every other byte of the file, CRLF line endings included, stays as it was.
 */
import { isAlias, isMap, isScalar, parseAllDocuments, parse, Scalar, visit } from 'yaml';
import type { Alias, Document, Node, Pair, YAMLMap } from 'yaml';

export interface Splice {
  start: number;
  end: number;
  text: string;
}

export type Doc = Document.Parsed;

export function parseDocs(text: string, file: string): Doc[] {
  const list = Array.from(parseAllDocuments(text, { keepSourceTokens: true, uniqueKeys: false })) as Doc[];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) throw new Error(`${file}: not valid YAML: ${err.message.split('\n')[0]}`);
  }
  return list;
}

export const eolOf = (text: string): string => (/\r\n/.test(text) ? '\r\n' : '\n');

export function lineStart(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

/** Offset of the line break ending the line that holds `pos` (before a CR of CRLF). */
export function lineEnd(text: string, pos: number): number {
  const nl = text.indexOf('\n', pos);
  if (nl < 0) return text.length;
  return nl > 0 && text[nl - 1] === '\r' ? nl - 1 : nl;
}

export const lineOf = (text: string, pos: number): number => text.slice(0, pos).split('\n').length;

/** Follows aliases to the anchored node, so an edit lands where the value is written. */
export function resolve(doc: Doc, node: unknown): Node | undefined {
  let current = node;
  for (let i = 0; i < 16 && isAlias(current); i++) current = current.resolve(doc);
  return (current ?? undefined) as Node | undefined;
}

export interface Found {
  pair: Pair;
  map: YAMLMap;
  value: Node | undefined;
}

/** A key of a map, looking into `<<` merge keys too (the value then lives in the merged map). */
export function lookup(doc: Doc, map: YAMLMap, key: string): Found | undefined {
  for (const pair of map.items) {
    if (isScalar(pair.key) && String(pair.key.value) === key) {
      return { pair, map, value: resolve(doc, pair.value) };
    }
  }
  for (const pair of map.items) {
    if (!isScalar(pair.key) || pair.key.value !== '<<') continue;
    const merged = resolve(doc, pair.value);
    const sources = isMap(merged)
      ? [merged]
      : merged && 'items' in merged
        ? (merged.items as unknown[]).map((n) => resolve(doc, n))
        : [];
    for (const source of sources) {
      if (!isMap(source)) continue;
      const hit = lookup(doc, source, key);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** A scalar's string as written: plain `1.10` stays "1.10", not the number 1.1. */
export function scalarText(text: string, node: Node | undefined): string | undefined {
  if (!isScalar(node)) return undefined;
  if (node.value === null) return '';
  if (node.type === Scalar.PLAIN && node.range) return text.slice(node.range[0], node.range[1]).trim();
  return String(node.value);
}

/** A string in the style of the scalar it replaces; plain only when it reads back as the same string. */
export function renderScalar(value: string, style: Scalar['type'] | undefined, inFlow = false): string {
  if (style === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`;
  if (style === Scalar.PLAIN || style === undefined) {
    let plainOk =
      value !== '' && !/[\n\r\t]|: | #|^\s|\s$/.test(value) && !(inFlow && /[,[\]{}]/.test(value));
    if (plainOk) {
      try {
        plainOk = parse(value) === value;
      } catch {
        plainOk = false;
      }
    }
    if (plainOk) return value;
  }
  return JSON.stringify(value);
}

export function replaceScalar(text: string, node: Scalar, value: string, inFlow = false): Splice {
  if (!node.range) throw new Error('scalar without a source range');
  const style =
    node.type === Scalar.BLOCK_FOLDED || node.type === Scalar.BLOCK_LITERAL ? undefined : node.type;
  // An empty plain value (`digest:`) has an empty range; a space keeps `key: value` valid YAML.
  const before = node.range[0] === node.range[1] && text[node.range[0] - 1] === ':' ? ' ' : '';
  return { start: node.range[0], end: node.range[1], text: before + renderScalar(value, style, inFlow) };
}

/** Every alias in the document that stands for `node`. */
function aliasesOf(doc: Doc, node: Node): Alias[] {
  const found: Alias[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (resolve(doc, alias) === node) found.push(alias);
    },
  });
  return found;
}

interface ValueRequest {
  via?: Alias;
  value: string;
  inFlow: boolean;
  notes?: string[];
}

/**
 * The value edits of one document, applied together because of YAML anchors: a value written once
 * (`tag: &v 1.0`) and reused (`tag: *v`) must change only where the bump asked. Each use keeps the
 * alias when its wanted value is the anchored one's, else gets its own literal, and the request
 * whose alias or anchor had to be split gets a note saying so (for the summary).
 */
export class ValueEdits {
  private readonly requests = new Map<Scalar, ValueRequest[]>();

  constructor(
    private readonly doc: Doc,
    private readonly text: string,
  ) {}

  /** Asks for `found`'s value to become `value`; `notes` receives what had to be done for it. */
  set(found: Found, value: string, notes?: string[]): void {
    const node = found.value;
    if (!isScalar(node)) throw new Error('not a scalar');
    const via = isAlias(found.pair.value) ? found.pair.value : undefined;
    this.requests.set(node, [
      ...(this.requests.get(node) ?? []),
      { via, value, notes, inFlow: found.map.flow ?? false },
    ]);
  }

  finish(): Splice[] {
    const splices: Splice[] = [];
    for (const [node, requests] of this.requests) {
      const written = this.text.slice(node.range![0], node.range![1]);
      const old = scalarText(this.text, node) ?? '';
      const direct = requests.find((r) => !r.via);
      const anchored = direct?.value ?? old;
      if (direct && direct.value !== old)
        splices.push(replaceScalar(this.text, node, direct.value, direct.inFlow));
      const style =
        node.type === Scalar.BLOCK_FOLDED || node.type === Scalar.BLOCK_LITERAL ? undefined : node.type;
      const aliases = node.anchor ? aliasesOf(this.doc, node) : [];
      let writtenOut = 0;
      for (const alias of aliases) {
        const own = requests.find((r) => r.via === alias);
        const wanted = own?.value ?? old;
        if (wanted === anchored) continue;
        splices.push({
          start: alias.range![0],
          end: alias.range![1],
          text: own ? renderScalar(wanted, style, own.inFlow) : written,
        });
        if (own)
          own.notes?.push(
            `*${alias.source} was replaced by its own value, so the other uses of &${alias.source} keep ${written}`,
          );
        else writtenOut++;
      }
      if (writtenOut > 0) {
        direct?.notes?.push(
          `&${node.anchor} was shared: ${writtenOut} other use${writtenOut > 1 ? 's keep' : ' keeps'} ${written}, written out instead of *${node.anchor}`,
        );
      }
    }
    return splices;
  }
}

function keyColumn(text: string, pair: Pair): number {
  const start = (pair.key as Node).range![0];
  return start - lineStart(text, start);
}

function valueEnd(pair: Pair): number {
  const value = pair.value as Node | null;
  return value?.range?.[1] ?? (pair.key as Node).range![1];
}

/**
 * Adds `key: value` pairs to a map, aligned with its keys, in the given order, on the lines right
 * after `after` (default: the last pair whose value is a scalar). A pair holding a nested block
 * would end on a later line, so new lines never go after one.
 */
export function insertPairs(text: string, map: YAMLMap, pairs: [string, string][], after?: Pair): Splice {
  const scalarPairs = map.items.filter((p) => p.value === null || isScalar(p.value) || isAlias(p.value));
  const anchor = after ?? (map.flow ? map.items.at(-1) : scalarPairs.at(-1));
  if (!anchor) throw new Error(`cannot add '${pairs[0]?.[0]}' to a mapping without a scalar value`);
  const rendered = pairs.map(([k, v]) => `${k}: ${renderScalar(v, Scalar.PLAIN, map.flow)}`);
  if (map.flow) {
    const at = valueEnd(anchor);
    return { start: at, end: at, text: rendered.map((r) => `, ${r}`).join('') };
  }
  const at = lineEnd(text, valueEnd(anchor));
  const indent = ' '.repeat(keyColumn(text, anchor));
  return { start: at, end: at, text: rendered.map((r) => `${eolOf(text)}${indent}${r}`).join('') };
}

/** Rewrites one pair as `key: value` in place (its line, indentation and trailing comment stay). */
export function replacePair(pair: Pair, key: string, value: string, inFlow = false): Splice {
  return {
    start: (pair.key as Node).range![0],
    end: valueEnd(pair),
    text: `${key}: ${renderScalar(value, Scalar.PLAIN, inFlow)}`,
  };
}

/** Removes one `key: value` pair: its whole line in a block map, its `, key: value` in a flow map. */
export function removePair(text: string, map: YAMLMap, pair: Pair): Splice {
  const index = map.items.indexOf(pair);
  const keyStart = (pair.key as Node).range![0];
  const next = map.items[index + 1];
  if (map.flow) {
    if (index > 0) return { start: valueEnd(map.items[index - 1]!), end: valueEnd(pair), text: '' };
    if (next) return { start: keyStart, end: (next.key as Node).range![0], text: '' };
    return { start: keyStart, end: valueEnd(pair), text: '' };
  }
  const start = lineStart(text, keyStart);
  if (/^\s*$/.test(text.slice(start, keyStart))) {
    const end = lineEnd(text, valueEnd(pair));
    const nl = text.indexOf('\n', end);
    return { start, end: nl < 0 ? text.length : nl + 1, text: '' };
  }
  // First key of a sequence item (`- key: value`): the next key moves up into its place.
  if (next) return { start: keyStart, end: (next.key as Node).range![0], text: '' };
  throw new Error(`cannot remove the only key '${String(pair.key)}' of a mapping`);
}

/** Applies non-overlapping splices; identical duplicates (one anchor reached twice) collapse. */
export function applySplices(text: string, splices: Splice[]): string {
  const unique = new Map<string, Splice>();
  for (const s of splices) unique.set(`${s.start}:${s.end}:${s.text}`, s);
  const sorted = [...unique.values()].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  let floor = Infinity;
  for (const s of sorted) {
    if (s.end > floor) throw new Error(`overlapping edits at offset ${s.start}`);
    out = out.slice(0, s.start) + s.text + out.slice(s.end);
    floor = s.start;
  }
  return out;
}
