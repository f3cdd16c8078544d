/**
 * The real mermaid parser, in Node: `mermaid.parse` runs the same grammar GitHub's renderer does,
 * so a chart it rejects is one GitHub would show as an error box. Mermaid sanitizes label text
 * with DOMPurify, which needs a browser's DOM; sanitizing changes what a label shows, never whether
 * the diagram parses, so in tests it is an identity function.
 */
import { jest } from '@jest/globals';

jest.unstable_mockModule('dompurify', () => ({
  default: { sanitize: (text: string) => text, addHook: () => undefined },
}));

type Mermaid = { parse: (text: string) => Promise<{ diagramType: string } | false> };
let loaded: Mermaid | undefined;

/** Resolves with the diagram type, rejects with mermaid's parse error. */
export async function parseMermaid(text: string): Promise<string> {
  loaded ??= ((await import('mermaid')) as unknown as { default: Mermaid }).default;
  const result = await loaded.parse(text);
  if (!result) throw new Error('mermaid did not recognise the diagram');
  return result.diagramType;
}

/** The bodies of the ```mermaid blocks of a Markdown text. */
export function mermaidBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => m[1]!);
}
