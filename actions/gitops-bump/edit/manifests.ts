/**
 * Workload manifests: every container, initContainer and ephemeralContainer of the pod template
 * whose image has the bumped name gets the new tag and/or digest; the name keeps its spelling.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import type { Node, YAMLMap } from 'yaml';
import { formatImageRef, parseImageRef, retarget, sameImage } from '../../shared/image-ref.js';
import { lineOf, lookup, resolve, scalarText } from '../yaml-splice.js';
import type { Doc } from '../yaml-splice.js';
import type { DocEdit, EditContext } from './types.js';

/** Where each workload kind keeps its pod spec. */
const POD_SPEC: Record<string, string[]> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  // Argo Rollouts keeps the Deployment shape.
  Rollout: ['spec', 'template', 'spec'],
};

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'];

export const isManifest = (contents: unknown): boolean =>
  isMap(contents) &&
  typeof contents.get('kind') === 'string' &&
  typeof contents.get('apiVersion') === 'string';

function path(doc: Doc, map: YAMLMap, keys: string[]): Node | undefined {
  let node: Node | undefined = map;
  for (const key of keys) {
    if (!isMap(node)) return undefined;
    node = lookup(doc, node, key)?.value;
  }
  return node;
}

export function editManifest(ctx: EditContext): DocEdit {
  const { doc, text } = ctx;
  const out: DocEdit = { locations: [], splices: [] };
  if (!isMap(doc.contents)) return out;
  const kind = String(doc.contents.get('kind'));
  const specPath = POD_SPEC[kind];
  if (!specPath) return out;
  const podSpec = path(doc, doc.contents, specPath);
  if (!isMap(podSpec)) return out;
  const name = scalarText(text, path(doc, doc.contents, ['metadata', 'name'])) ?? '?';
  for (const list of CONTAINER_LISTS) {
    const containers = lookup(doc, podSpec, list)?.value;
    if (!isSeq(containers)) continue;
    containers.items.forEach((raw, index) => {
      const container = resolve(doc, raw);
      if (!isMap(container)) return;
      const found = lookup(doc, container, 'image');
      if (!found || !isScalar(found.value)) return;
      const value = scalarText(text, found.value);
      if (!value) return;
      const before = parseImageRef(value);
      if (!sameImage(before.name, ctx.image)) return;
      const after = retarget(before, ctx.target);
      const next = formatImageRef(after);
      const changed = next !== value;
      const notes: string[] = [];
      if (changed) ctx.values.set(found, next, notes);
      const cname = scalarText(text, lookup(doc, container, 'name')?.value) ?? String(index);
      out.locations.push({
        file: ctx.file,
        format: 'manifest',
        where: `${kind}/${name} ${list}[${cname}].image`,
        line: lineOf(text, found.value.range?.[0] ?? 0),
        before,
        after,
        changed,
        notes,
      });
    });
  }
  return out;
}
