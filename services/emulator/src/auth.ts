import { timingSafeEqual } from 'node:crypto';

/** HTTP Basic `site_id:api_key` check, as the Track API does it. */
export function basicAuthChecker(siteId: string, apiKey: string): (header: string | undefined) => boolean {
  const expected = Buffer.from(`${siteId}:${apiKey}`);
  const expectedHeader = `Basic ${expected.toString('base64')}`;
  return (header) => {
    if (header === undefined) return false;
    if (header === expectedHeader) return true;
    const m = /^basic\s+(\S+)\s*$/i.exec(header);
    if (m === null) return false;
    const given = Buffer.from(m[1] as string, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}
