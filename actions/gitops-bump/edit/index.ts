/** Edits one file: each YAML document goes to the editor for its format, then all splices apply at once. */
import type { Target } from '../../shared/image-ref.js';
import { applySplices, parseDocs, ValueEdits } from '../yaml-splice.js';
import { editHelmValues } from './helm.js';
import { addImageEntry, editKustomization, isKustomization } from './kustomize.js';
import { editManifest, isManifest } from './manifests.js';
import type { DocEdit, EditContext, Location } from './types.js';

export type { Location } from './types.js';

export interface EditOptions {
  image: string;
  target: Target;
  helmPaths: string[][];
}

export interface FileResult {
  text: string;
  locations: Location[];
  changed: boolean;
}

function scan(file: string, text: string, options: EditOptions): DocEdit {
  const all: DocEdit = { locations: [], splices: [] };
  for (const doc of parseDocs(text, file)) {
    const ctx: EditContext = { file, text, doc, ...options, values: new ValueEdits(doc, text) };
    const edit = isKustomization(file, doc.contents)
      ? editKustomization(ctx)
      : isManifest(doc.contents)
        ? editManifest(ctx)
        : editHelmValues(ctx);
    all.locations.push(...edit.locations);
    all.splices.push(...edit.splices, ...ctx.values.finish());
  }
  return all;
}

export function editFile(file: string, text: string, options: EditOptions): FileResult {
  const { locations, splices } = scan(file, text, options);
  if (splices.length === 0) return { text, locations, changed: false };
  const next = applySplices(text, splices);
  // The edit must be a fixed point: parsed again, every location already holds the new value.
  const again = scan(file, next, options);
  if (again.splices.length > 0 || again.locations.length !== locations.length) {
    throw new Error(`${file}: the edited file does not read back as intended; not committing it`);
  }
  return { text: next, locations, changed: true };
}

/** Whether a file is a kustomization (one document that kustomize would read as one). */
export function isKustomizationFile(file: string, text: string): boolean {
  const docs = parseDocs(text, file);
  return docs.length === 1 && isKustomization(file, docs[0]!.contents);
}

/**
 * A kustomization that names the image nowhere gets an `images:` entry for it, as
 * `kustomize edit set image` adds one; the result must then read back as that entry.
 */
export function addToKustomization(file: string, text: string, options: EditOptions): FileResult {
  const doc = parseDocs(text, file)[0]!;
  const next = addImageEntry(file, text, options, doc);
  const { locations, splices } = scan(file, next, options);
  if (splices.length > 0 || locations.length !== 1) {
    throw new Error(`${file}: the added images entry does not read back as intended; not committing it`);
  }
  const added = { ...locations[0]!, before: { name: options.image }, changed: true };
  added.notes = [`added the images entry for ${options.image}, as \`kustomize edit set image\` does`];
  return { text: next, locations: [added], changed: true };
}
