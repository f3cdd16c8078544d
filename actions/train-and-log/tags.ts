/**
 * Run tags: the `mlflow.*` system tags MLflow's Python client sets when it starts a run (so the UI
 * shows source, commit, branch and user), plus where in GitHub the run came from.
 */
import type { GithubRun } from './inputs.js';

export function runTags(runName: string, gh: GithubRun): Record<string, string> {
  const tags: Record<string, string> = {
    'mlflow.runName': runName,
    // SourceType.JOB: an automated job, as MLflow calls what is neither a notebook nor a project.
    'mlflow.source.type': 'JOB',
    'mlflow.source.name':
      gh.workflowRef || (gh.workflow ? `${gh.workflow} (GitHub Actions)` : 'train-and-log'),
  };
  const set = (key: string, value: string | undefined): void => {
    if (value) tags[key] = value;
  };
  set('mlflow.user', gh.actor);
  set('mlflow.source.git.commit', gh.sha);
  set('mlflow.source.git.branch', gh.branch);
  if (gh.repository) set('mlflow.source.git.repoURL', `${gh.serverUrl}/${gh.repository}`);
  set('github.run_url', gh.runUrl);
  set('github.repository', gh.repository);
  set('github.workflow', gh.workflow);
  set('github.event_name', gh.eventName);
  set('github.ref', gh.ref);
  return tags;
}

/** The registered version's: which commit and which workflow run made it. */
export function versionTags(gh: GithubRun): Record<string, string> {
  const tags: Record<string, string> = {};
  if (gh.sha) tags['mlflow.source.git.commit'] = gh.sha;
  if (gh.runUrl) tags['github.run_url'] = gh.runUrl;
  return tags;
}
