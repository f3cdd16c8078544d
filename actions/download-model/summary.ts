/** The job summary: which version went into the build context, its digest and files. */
import { code } from '../shared/markdown.js';
import type { DownloadedModel } from '../shared/mlflow/download.js';
import type { Inputs } from './inputs.js';

const inCell = (text: string): string => code(text, { inTable: true });

export function renderSummary(inputs: Inputs, model: DownloadedModel, versionUrl: string): string {
  const { version } = model.version;
  const via = 'alias' in inputs.ref ? ` (\`@${inputs.ref.alias}\`)` : '';
  return [
    `### Model [${code(inputs.model)} version ${version}](${versionUrl})${via} in ${code(inputs.path)}`,
    '',
    '| | |',
    '| --- | --- |',
    `| run | ${inCell(model.version.run_id ?? '-')} |`,
    `| digest | ${inCell(model.digest)} |`,
    `| from | ${inCell(model.artifactUri)} |`,
    `| files | ${model.files.length} (${model.bytes} bytes): ${model.files.map(inCell).join(', ')} |`,
    '',
  ].join('\n');
}
