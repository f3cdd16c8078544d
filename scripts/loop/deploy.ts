/**
 * Deploy and roll back as the pipeline does, with Git as the source of truth: the image carries
 * its model, the GitOps commit pins the image, the server runs what `main` pins (never what an
 * alias says), and the champion alias moves only once that is live.
 */
import type { LoopContext } from './context.js';
import {
  deploy,
  deployedNow,
  mergeRollbackPr,
  pinnedDigest,
  type Deploy,
  type GitOps,
  type RollbackPr,
} from './gitops.js';
import { buildImage, pullImage } from './images.js';
import { rollout, type Server } from './serve.js';
import type { Service } from './service.js';
import { promoteChampion } from './train.js';

export interface Deployed {
  deploy: Deploy;
  server: Server;
}

/** What ArgoCD does after a commit lands: the pods run the image `main` pins now. */
function syncPinned(
  ctx: LoopContext,
  gitops: GitOps,
  service: Service,
  previous?: Server,
  whileLoading?: (hostPort: string) => void,
): Promise<Server> {
  const image = pullImage(ctx, pinnedDigest(gitops));
  return rollout(ctx, service, image, previous, whileLoading);
}

/** download-model + the image, the deploy commit, the rollout, then the champion alias. */
export async function deployVersion(
  ctx: LoopContext,
  opts: { mlflowUrl: string; gitops: GitOps; service: Service; version: string; previous?: Server },
  whileLoading?: (hostPort: string) => void,
): Promise<Deployed> {
  const image = await buildImage(ctx, opts.mlflowUrl, opts.version);
  const d = await deploy(ctx, opts.gitops, image);
  const server = await syncPinned(ctx, opts.gitops, opts.service, opts.previous, whileLoading);
  if (server.image.digest !== image.digest)
    throw new Error(`main pins ${server.image.ref} after deploying ${image.ref}`);
  await promoteChampion(ctx, opts.mlflowUrl, opts.version);
  ctx.live.championVersion = opts.version;
  return { deploy: d, server };
}

export interface Recovered {
  mergedSha: string;
  server: Server;
}

/** The rollback PR merged, the pods back on what `main` pins now, the champion moved back. */
export async function recover(
  ctx: LoopContext,
  opts: {
    mlflowUrl: string;
    gitops: GitOps;
    service: Service;
    pr: RollbackPr;
    previous: Server;
    target: Deploy;
  },
): Promise<Recovered> {
  const mergedSha = await mergeRollbackPr(ctx, opts.gitops, opts.pr);
  const server = await syncPinned(ctx, opts.gitops, opts.service, opts.previous);
  if (server.image.digest !== opts.target.image.digest)
    throw new Error(`after the rollback main pins ${server.image.ref}, not ${opts.target.image.ref}`);
  // deployed.yml: the champion follows what the branch's newest deploy commit says it deploys.
  const deployed = await deployedNow(ctx, opts.gitops);
  if (deployed.image !== server.image.ref)
    throw new Error(`main's deploy commit says ${deployed.image}, the server runs ${server.image.ref}`);
  await promoteChampion(ctx, opts.mlflowUrl, deployed.version);
  ctx.live.championVersion = deployed.version;
  return { mergedSha, server };
}
