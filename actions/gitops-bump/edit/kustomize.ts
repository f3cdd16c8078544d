/**
 * `images:` of a kustomization, written the way `kustomize edit set image name=…` writes it:
 * a tag sets `newTag` and drops `digest`, a digest sets `digest` and drops `newTag`, `tag@digest`
 * sets both. An entry matches on its `name`, as kustomize matches it, or on its `newName` (the name
 * that gets deployed); a kustomization that names the image nowhere gets a new entry, as
 * `kustomize edit set image` adds one (see addImageEntry).
 */
import { isMap, isScalar, isSeq } from 'yaml';
import type { YAMLMap } from 'yaml';
import { sameImage, type ImageRef } from '../../shared/image-ref.js';
import {
  insertPairs,
  lineOf,
  lineStart,
  lookup,
  removePair,
  renderScalar,
  replacePair,
  resolve,
  scalarText,
} from '../yaml-splice.js';
import type { Splice } from '../yaml-splice.js';
import type { DocEdit, EditContext } from './types.js';

export function isKustomization(file: string, contents: unknown): boolean {
  if (/(^|\/)(kustomization\.ya?ml|Kustomization)$/.test(file)) return true;
  if (!isMap(contents)) return false;
  const kind = contents.get('kind');
  const api = contents.get('apiVersion');
  // apiVersion is optional in a kustomization; when present it names kustomize's group.
  return (
    kind === 'Kustomization' && (api === undefined || String(api).startsWith('kustomize.config.k8s.io/'))
  );
}

export function editKustomization(ctx: EditContext): DocEdit {
  const { doc, text, target } = ctx;
  const out: DocEdit = { locations: [], splices: [] };
  if (!isMap(doc.contents)) return out;
  const images = lookup(doc, doc.contents, 'images');
  if (!images || !isSeq(images.value)) return out;
  images.value.items.forEach((raw, index) => {
    const entry = resolve(doc, raw);
    if (!isMap(entry)) return;
    const get = (key: string) => {
      const hit = lookup(doc, entry, key);
      return hit ? { ...hit, text: scalarText(text, hit.value) } : undefined;
    };
    const name = get('name');
    const newName = get('newName');
    const effective = newName?.text || name?.text;
    const matches = [name?.text, newName?.text].some((n) => n && sameImage(n, ctx.image));
    if (!effective || !matches) return;
    const tag = get('newTag');
    const digest = get('digest');
    const before: ImageRef = {
      name: effective,
      ...(tag?.text && { tag: tag.text }),
      ...(digest?.text && { digest: digest.text }),
    };
    const after: ImageRef = {
      name: effective,
      ...(target.tag !== undefined && { tag: target.tag }),
      ...(target.digest !== undefined && { digest: target.digest }),
    };
    const splices: Splice[] = [];
    const inserts: [string, string][] = [];
    const notes: string[] = [];
    let changes = 0;
    const setField = (key: string, field: typeof tag, value: string | undefined): void => {
      if (value === undefined) {
        if (field) splices.push(removePair(text, field.map, field.pair));
      } else if (!field) {
        inserts.push([key, value]);
      } else if (field.text !== value) {
        if (!isScalar(field.value)) throw new Error(`${ctx.file}: images[${index}].${key} is not a scalar`);
        ctx.values.set(field, value, notes);
        changes++;
      }
    };
    if (target.tag === undefined && target.digest !== undefined && tag && !digest) {
      // Tag to digest: the pin takes the tag's place.
      splices.push(replacePair(tag.pair, 'digest', target.digest, tag.map.flow));
    } else if (target.digest === undefined && target.tag !== undefined && digest && !tag) {
      // Digest to tag, the other way round (removing the last key and adding one after it overlap).
      splices.push(replacePair(digest.pair, 'newTag', target.tag, digest.map.flow));
    } else {
      setField('newTag', tag, target.tag);
      setField('digest', digest, target.digest);
    }
    if (inserts.length) {
      const after = tag?.map === entry ? tag.pair : undefined;
      splices.push(insertPairs(text, entry as YAMLMap, inserts, after));
    }
    out.splices.push(...splices);
    out.locations.push({
      file: ctx.file,
      format: 'kustomize',
      where: `images[${index}] (${name?.text ?? effective})`,
      line: lineOf(text, entry.range?.[0] ?? 0),
      before,
      after,
      changed: splices.length + changes > 0,
      notes,
    });
  });
  return out;
}

/**
 * `kustomize edit set image` adds an `images:` entry for a name the list does not have yet; the
 * bump does the same when no file names the image, in the one kustomization it was given. The entry
 * is written in the list's own style (indented or not), or as a new `images:` key at the end.
 */
export function addImageEntry(
  file: string,
  text: string,
  ctx: Pick<EditContext, 'image' | 'target'>,
  doc: EditContext['doc'],
): string {
  const eol = /\r\n/.test(text) ? '\r\n' : '\n';
  const fields: [string, string][] = [
    ['name', ctx.image],
    ...(ctx.target.tag !== undefined ? [['newTag', ctx.target.tag] as [string, string]] : []),
    ...(ctx.target.digest !== undefined ? [['digest', ctx.target.digest] as [string, string]] : []),
  ];
  const render = (indent: string) =>
    fields
      .map(([k, v], i) => `${i === 0 ? `${indent}- ` : `${indent}  `}${k}: ${renderScalar(v, undefined)}`)
      .join(eol);
  const images = isMap(doc.contents) ? lookup(doc, doc.contents, 'images') : undefined;
  if (images && isSeq(images.value) && !images.value.flow && images.value.items.length > 0) {
    const first = images.value.items[0] as { range?: [number, number, number] };
    const dash = text.lastIndexOf('-', first.range![0]);
    const indent = text.slice(lineStart(text, dash), dash);
    const end = images.value.range![1];
    const at = text.slice(0, end).replace(/[\r\n\s]+$/, '').length;
    return text.slice(0, at) + eol + render(indent) + text.slice(at);
  }
  if (images) throw new Error(`${file}: images is not a block list; add the entry for ${ctx.image} by hand`);
  const body = text.length && !text.endsWith('\n') ? text + eol : text;
  return `${body}images:${eol}${render('')}${eol}`;
}
