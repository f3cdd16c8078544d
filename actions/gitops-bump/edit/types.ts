import type { ImageRef, Target } from '../image-ref.js';
import type { Doc, Splice } from '../yaml-splice.js';

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
}

export interface EditContext {
  file: string;
  text: string;
  doc: Doc;
  image: string;
  target: Target;
  /** Helm key paths, each split on dots; `*` matches any key. */
  helmPaths: string[][];
}

export interface DocEdit {
  locations: Location[];
  splices: Splice[];
}
