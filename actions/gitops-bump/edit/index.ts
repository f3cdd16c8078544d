/** Edits one file: each YAML document goes to the editor for its format, then all splices apply at once. */
import type { Target } from '../image-ref.js';
import { applySplices, parseDocs } from '../yaml-splice.js';
import { editHelmValues } from './helm.js';
import { editKustomization, isKustomization } from './kustomize.js';
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
    const ctx: EditContext = { file, text, doc, ...options };
    const edit = isKustomization(file, doc.contents)
      ? editKustomization(ctx)
      : isManifest(doc.contents)
        ? editManifest(ctx)
        : editHelmValues(ctx);
    all.locations.push(...edit.locations);
    all.splices.push(...edit.splices);
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
