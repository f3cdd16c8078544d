/**
 * Run tags: the `mlflow.*` system tags MLflow's Python client sets when it starts a run (so the UI
 * shows source, commit, branch and user), plus where in GitHub the run came from.
 */
import { runUrl } from '../shared/github.js';

export function runTags(runName: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const tags: Record<string, string> = {
    'mlflow.runName': runName,
    // SourceType.JOB: an automated job, as MLflow calls what is neither a notebook nor a project.
    'mlflow.source.type': 'JOB',
    'mlflow.source.name':
      env.GITHUB_WORKFLOW_REF ||
      (env.GITHUB_WORKFLOW ? `${env.GITHUB_WORKFLOW} (GitHub Actions)` : 'train-and-log'),
  };
  const set = (key: string, value: string | undefined): void => {
    if (value) tags[key] = value;
  };
  set('mlflow.user', env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR);
  set('mlflow.source.git.commit', env.GITHUB_SHA);
  set('mlflow.source.git.branch', env.GITHUB_HEAD_REF || env.GITHUB_REF_NAME);
  if (env.GITHUB_REPOSITORY) {
    set(
      'mlflow.source.git.repoURL',
      `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY}`,
    );
  }
  set('github.run_url', runUrl());
  set('github.repository', env.GITHUB_REPOSITORY);
  set('github.workflow', env.GITHUB_WORKFLOW);
  set('github.event_name', env.GITHUB_EVENT_NAME);
  set('github.ref', env.GITHUB_REF);
  return tags;
}
