import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * `Authorization: Bearer <token>` checked in constant time: both sides are hashed first, so
 * neither the comparison nor an early length mismatch tells an attacker how close a guess was.
 */
export function bearerCheck(expected: string): (header: string | undefined) => boolean {
  const want = digest(expected);
  return (header) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    const given = m?.[1] ?? '';
    return timingSafeEqual(digest(given), want) && given !== '';
  };
}
