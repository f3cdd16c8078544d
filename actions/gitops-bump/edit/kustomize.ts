/**
 * `images:` of a kustomization, written the way `kustomize edit set image name=…` writes it:
 * a tag sets `newTag` and drops `digest`, a digest sets `digest` and drops `newTag`, `tag@digest`
 * sets both. Entries match on `newName` when present (the name that gets deployed), else `name`.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import type { YAMLMap } from 'yaml';
import { sameImage, type ImageRef } from '../image-ref.js';
import {
  insertPairs,
  lineOf,
  lookup,
  removePair,
  replacePair,
  replaceScalar,
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
    if (!effective || !sameImage(effective, ctx.image)) return;
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
    const setField = (key: string, field: typeof tag, value: string | undefined): void => {
      if (value === undefined) {
        if (field) splices.push(removePair(text, field.map, field.pair));
      } else if (!field) {
        inserts.push([key, value]);
      } else if (field.text !== value) {
        if (!isScalar(field.value)) throw new Error(`${ctx.file}: images[${index}].${key} is not a scalar`);
        splices.push(replaceScalar(text, field.value, value, field.map.flow));
      }
    };
    if (target.tag === undefined && target.digest !== undefined && tag && !digest) {
      // Tag to digest: the pin takes the tag's place.
      splices.push(replacePair(tag.pair, 'digest', target.digest, tag.map.flow));
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
      changed: splices.length > 0,
    });
  });
  return out;
}
