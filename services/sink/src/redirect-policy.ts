/**
 * Where the sink may follow a Customer.io redirect with its credentials. Customer.io redirects a
 * call made to the other region's host (an EU account on the US host); following it anywhere else
 * would hand the API key to whoever answered the 3xx.
 */

export const MAX_REDIRECTS = 5;

/** Redirects that keep method and body when followed (we never turn a PUT into a GET). */
export const FOLLOWED_REDIRECTS: ReadonlySet<number> = new Set([301, 302, 307, 308]);

/** Permanent ones move every later request too. */
export const PERMANENT_REDIRECTS: ReadonlySet<number> = new Set([301, 308]);

export interface RedirectPolicy {
  /** Hosts (hostname, no port) trusted besides Customer.io's own, e.g. the emulator's. */
  extraHosts: ReadonlySet<string>;
}

function isCustomerIoHost(hostname: string): boolean {
  return hostname === 'customer.io' || hostname.endsWith('.customer.io');
}

/**
 * The configured track URL's host is trusted (the credentials already go there); Customer.io's
 * hosts only over https, so a redirect can never downgrade the credentials to plain text.
 */
export function redirectPolicyFor(trackUrl: string): RedirectPolicy {
  const host = new URL(trackUrl).hostname;
  return { extraHosts: new Set(isCustomerIoHost(host) ? [] : [host]) };
}

/** Null when the target may receive the credentials, else why not. */
export function refuseRedirect(target: URL, policy: RedirectPolicy): string | null {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return `redirect to a ${target.protocol} URL`;
  if (target.username !== '' || target.password !== '') return 'redirect URL carries credentials';
  if (isCustomerIoHost(target.hostname)) return target.protocol === 'https:' ? null : 'redirect to Customer.io over plain http';
  if (policy.extraHosts.has(target.hostname)) return null;
  return `redirect to ${target.hostname}, outside Customer.io's hosts`;
}
