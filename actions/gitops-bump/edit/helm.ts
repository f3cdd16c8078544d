/**
 * Helm values: at each configured key path (default `image`) either a mapping in the common chart
 * convention (`repository`, optional `registry`, `tag`, `digest`) or a single `name:tag` string.
 * A new digest is added next to the tag when the mapping has none; a tag-only bump empties an
 * existing digest instead of deleting the key, since charts read `.digest` and template on it.
 */
import { isMap, isScalar } from 'yaml';
import type { Node, YAMLMap } from 'yaml';
import { formatImageRef, parseImageRef, retarget, sameImage, type ImageRef } from '../../shared/image-ref.js';
import { insertPairs, lineOf, lookup, scalarText } from '../yaml-splice.js';
import type { Doc, Found, Splice } from '../yaml-splice.js';
import type { DocEdit, EditContext } from './types.js';

interface Hit {
  path: string;
  node: Node;
  parent: YAMLMap;
  found: Found;
}

/** Every node reached by a key path; `*` walks into each key of a mapping. */
function walk(doc: Doc, map: YAMLMap, path: string[], prefix: string[] = []): Hit[] {
  const [head, ...rest] = path;
  if (head === undefined) return [];
  const keys =
    head === '*'
      ? map.items.flatMap((p) => (isScalar(p.key) && p.key.value !== '<<' ? [String(p.key.value)] : []))
      : [head];
  const hits: Hit[] = [];
  for (const key of keys) {
    const found = lookup(doc, map, key);
    if (!found?.value) continue;
    const here = [...prefix, key];
    if (rest.length === 0) hits.push({ path: here.join('.'), node: found.value, parent: found.map, found });
    else if (isMap(found.value)) hits.push(...walk(doc, found.value, rest, here));
  }
  return hits;
}

export function editHelmValues(ctx: EditContext): DocEdit {
  const { doc, text, target } = ctx;
  const out: DocEdit = { locations: [], splices: [] };
  if (!isMap(doc.contents)) return out;
  const seen = new Set<Node>();
  for (const path of ctx.helmPaths) {
    for (const hit of walk(doc, doc.contents, path)) {
      if (seen.has(hit.node)) continue;
      seen.add(hit.node);
      if (isScalar(hit.node)) {
        const value = scalarText(text, hit.node);
        if (!value) continue;
        const before = parseImageRef(value);
        if (!sameImage(before.name, ctx.image)) continue;
        const after = retarget(before, target);
        const next = formatImageRef(after);
        const changed = next !== value;
        const notes: string[] = [];
        if (changed) ctx.values.set(hit.found, next, notes);
        out.locations.push(location(ctx, hit, before, after, changed, notes));
        continue;
      }
      if (!isMap(hit.node)) continue;
      const image = hit.node;
      const get = (key: string) => {
        const found = lookup(doc, image, key);
        return found ? { ...found, text: scalarText(text, found.value) } : undefined;
      };
      const repository = get('repository');
      const registry = get('registry');
      if (!repository?.text) continue;
      const name = registry?.text ? `${registry.text}/${repository.text}` : repository.text;
      if (!sameImage(name, ctx.image)) continue;
      const tag = get('tag');
      const digest = get('digest');
      const before: ImageRef = {
        name,
        ...(tag?.text && { tag: tag.text }),
        ...(digest?.text && { digest: digest.text }),
      };
      const wanted = {
        tag: target.tag ?? tag?.text,
        digest: target.digest ?? (target.tag !== undefined ? '' : digest?.text),
      };
      const after: ImageRef = {
        name,
        ...(wanted.tag && { tag: wanted.tag }),
        ...(wanted.digest && { digest: wanted.digest }),
      };
      const splices: Splice[] = [];
      const inserts: [string, string][] = [];
      const notes: string[] = [];
      let changes = 0;
      for (const [key, field, value] of [
        ['tag', tag, wanted.tag],
        ['digest', digest, wanted.digest],
      ] as const) {
        if (value === undefined || (value === '' && !field)) continue;
        if (!field) inserts.push([key, value]);
        else if (field.text !== value) {
          if (!isScalar(field.value)) throw new Error(`${ctx.file}: ${hit.path}.${key} is not a scalar`);
          ctx.values.set(field, value, notes);
          changes++;
        }
      }
      // A new digest goes right under the tag it pins.
      if (inserts.length)
        splices.push(insertPairs(text, image, inserts, tag?.map === image ? tag.pair : undefined));
      out.splices.push(...splices);
      out.locations.push(location(ctx, hit, before, after, splices.length + changes > 0, notes));
    }
  }
  return out;
}

function location(
  ctx: EditContext,
  hit: Hit,
  before: ImageRef,
  after: ImageRef,
  changed: boolean,
  notes: string[],
) {
  return {
    notes,
    file: ctx.file,
    format: 'helm' as const,
    where: hit.path,
    line: lineOf(ctx.text, hit.node.range?.[0] ?? 0),
    before,
    after,
    changed,
  };
}
