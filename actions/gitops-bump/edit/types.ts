import type { ImageRef, Target } from '../../shared/image-ref.js';
import type { Doc, Splice, ValueEdits } from '../yaml-splice.js';

export type Format = 'kustomize' | 'helm' | 'manifest';

/** One place in a file that names the image, before and after the bump. */
export interface Location {
  file: string;
  format: Format;
  /** Human path to the value, e.g. `Deployment/api containers[app].image`. */
  where: string;
  line: number;
  before: ImageRef;
  after: ImageRef;
  changed: boolean;
  /** What the edit had to do besides setting the value (a broken YAML alias, an added entry). */
  notes?: string[];
}

export interface EditContext {
  file: string;
  text: string;
  doc: Doc;
  image: string;
  target: Target;
  /** Helm key paths, each split on dots; `*` matches any key. */
  helmPaths: string[][];
  /** Where scalar value changes go: applied per document, aware of YAML anchors. */
  values: ValueEdits;
}

export interface DocEdit {
  locations: Location[];
  splices: Splice[];
}
