/** The job summary: which version went into the build context, its digest and files. */
import type { DownloadedModel } from '../shared/mlflow/download.js';
import type { Inputs } from './inputs.js';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function renderSummary(inputs: Inputs, model: DownloadedModel, versionUrl: string): string {
  const { version } = model.version;
  const via = 'alias' in inputs.ref ? ` (\`@${inputs.ref.alias}\`)` : '';
  return [
    `### Model [\`${cell(inputs.model)}\` version ${version}](${versionUrl})${via} in \`${cell(inputs.path)}\``,
    '',
    '| | |',
    '| --- | --- |',
    `| run | \`${model.version.run_id ?? '-'}\` |`,
    `| digest | \`${model.digest}\` |`,
    `| from | \`${cell(model.artifactUri)}\` |`,
    `| files | ${model.files.length} (${model.bytes} bytes): ${model.files.map((f) => `\`${cell(f)}\``).join(', ')} |`,
    '',
  ].join('\n');
}
