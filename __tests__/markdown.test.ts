/** shared/markdown.ts: the one escaper and the one neutraliser every action's Markdown goes through. */
import { describe, expect, it } from '@jest/globals';
import { cell, code, escapeMarkdown, inert, neutralize } from '../actions/shared/markdown.js';

const Z = '\u200b';

describe('escapeMarkdown', () => {
  it('writes punctuation, HTML, mentions and references as text', () => {
    expect(escapeMarkdown('**bold** [x](y) <b>&amp; | `c` @octo #12 ![i](u)')).toBe(
      `\\*\\*bold\\*\\* \\[x\\]\\(y\\) &lt;b&gt;&amp;amp; \\| \\\`c\\\` @${Z}octo \\#${Z}12 \\!\\[i\\]\\(u\\)`,
    );
  });
  it('drops control characters and bidi overrides but keeps tabs and line breaks', () => {
    expect(escapeMarkdown('a\u0007b\u202ec\td\ne')).toBe('abc\td\ne');
  });
  it('cell folds white space to one line', () => {
    expect(cell('  a |\r\n b  ')).toBe('a \\| b');
  });
});

describe('code', () => {
  it('is one span no backtick can close, on one line, with nothing escaped inside', () => {
    expect(code(' a`b  *c*_d\r\n<e>\u202e ')).toBe("`a'b *c*_d <e>`");
  });
  it('escapes | only in a table cell, where GFM splits cells before reading code', () => {
    expect(code('a|b')).toBe('`a|b`');
    expect(code('a|b', { inTable: true })).toBe('`a\\|b`');
  });
});

describe('neutralize', () => {
  it('keeps Markdown but breaks mentions, commands, markers and images; e-mail addresses stay', () => {
    expect(neutralize('**ok** cc @octo\n/approve\n<!-- marker -->\n![x](u) <img src=u> a@b.com')).toBe(
      `**ok** cc @${Z}octo\n\\/approve\n&lt;!-- marker --&gt;\n\\![x](u) &lt;img src=u> a@b.com`,
    );
  });
});

describe('inert', () => {
  it('escapes and neutralises plain text, a leading / or :: included, on every line', () => {
    const out = inert('/close now\n  ::error::x\n@team/admins see #3 <!-- m -->');
    expect(out).toBe(`${Z}/close now\n  ${Z}::error::x\n@${Z}team/admins see \\#${Z}3 &lt;\\!-- m --&gt;`);
    expect(out).not.toMatch(/(^|\n)\s*(\/|::)/);
  });
  it('breaks fullwidth at-signs too', () => {
    expect(inert('＠octo')).toBe(`＠${Z}octo`);
  });
});
