import { describe, expect, it } from 'vitest';
import { BotFilter, MAX_IP_CHARS, MAX_USER_AGENT_CHARS, parseCidr } from '../src/stages/bot-filter.ts';
import { appInput, fixture, journeyMessages, only, pipeline, plan, planWith, shopifyInput } from './helpers.ts';

const filter = new BotFilter(plan.botFilter, {
  ipRanges: ['10.0.0.0/8', '192.168.1.0/24', '203.0.113.7', '2001:db8:abcd::/48', 'fd00::/8'],
  emailDomains: ['tea-example.com', '@staff.example.org'],
  dropTier1: false,
});

const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

describe('BotFilter.classify', () => {
  // Issue #12's table, both ways: a maintained list (isbot) catches what substring lists missed,
  // spares a Cubot phone, and server-side SDK and webhook agents are never bots.
  it.each([
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36',
    'Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome-Lighthouse',
    'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
    'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; GoogleOther)',
    'Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)',
    'Go-http-client/1.1',
    'axios/1.7.2',
    'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)',
    'okhttp/4.12.0',
    'Wget/1.21.4',
    'PostmanRuntime/7.39.0',
    'Java/17.0.2',
    'python-httpx/0.27.0',
    'Apache-HttpClient/4.5.14 (Java/17.0.2)',
    'curl/8.5.0',
    'python-requests/2.32.3',
  ])('bot: %s', (ua) => {
    expect(filter.classify({ ip: '198.51.100.1', userAgent: ua })).toBe('bot');
  });

  it.each([
    'Mozilla/5.0 (Linux; Android 10; Cubot P40 Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    'analytics-node-next/latest',
    'analytics-python/2.3.2',
    'analytics-ruby/2.4.0',
    'Shopify-Captain-Hook',
  ])('not a bot: %s', (ua) => {
    expect(filter.classify({ ip: '198.51.100.1', userAgent: ua })).toBeNull();
  });

  it('an agent of 32 KB is judged by its first part', () => {
    expect(filter.classify({ ip: null, userAgent: `Googlebot/2.1 ${'x'.repeat(32_000)}` })).toBe('bot');
    expect(filter.classify({ ip: null, userAgent: `Mozilla/5.0 ${' '.repeat(MAX_USER_AGENT_CHARS)}Googlebot` })).toBeNull();
  });

  it.each([
    ['10.1.2.3', true], ['192.168.1.200', true], ['192.168.2.1', false], ['203.0.113.7', true], ['203.0.113.8', false],
    ['2001:db8:abcd:12::1', true], ['2001:db8:abce::1', false], ['fd12:3456::1', true], ['::ffff:10.9.9.9', true],
    ['[2001:db8:abcd::5]', true], ['fe80::1%eth0', false], ['not-an-ip', false], ['198.51.100.1', false],
  ])('ip %s internal: %s', (ip, internal) => {
    expect(filter.isInternalIp(ip)).toBe(internal);
    expect(filter.classify({ ip, userAgent: SAFARI })).toBe(internal ? 'internal_traffic' : null);
  });

  it('the longest IP literals still match, anything longer is not an IP', () => {
    const longest = `[::ffff:10.255.255.255%${'e'.repeat(MAX_IP_CHARS - 24)}]`;
    expect(longest).toHaveLength(MAX_IP_CHARS);
    expect(filter.isInternalIp(longest)).toBe(true);
    expect(filter.isInternalIp(`  ${longest}\n`)).toBe(true);
    expect(filter.isInternalIp(`${longest}x`)).toBe(false);
    expect(filter.isInternalIp(`10.1.2.3%${'e'.repeat(MAX_IP_CHARS)}`)).toBe(false);
  });

  it("never runs a regex over a client's long IP field (quadratic on '%' repeated)", () => {
    const hostile = ['%'.repeat(30_000) + '\n1', '%'.repeat(30_000), `10.1.2.3%${'%'.repeat(30_000)}\n`];
    const calls: string[] = [];
    const proto = RegExp.prototype as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>;
    const keys: PropertyKey[] = [Symbol.replace, Symbol.match, Symbol.matchAll, Symbol.search, Symbol.split, 'exec', 'test'];
    const originals = keys.map((k) => [k, proto[k]!] as const);
    for (const [k, fn] of originals) {
      proto[k] = function (this: RegExp, ...args: unknown[]) {
        calls.push(`${String(k)} ${String(this)}`);
        return fn.apply(this, args);
      };
    }
    let verdicts: unknown[];
    try {
      verdicts = hostile.flatMap((ip) => [filter.isInternalIp(ip), filter.classify({ ip, userAgent: null })]);
    } finally {
      for (const [k, fn] of originals) proto[k] = fn;
    }
    expect(calls).toEqual([]);
    expect(verdicts).toEqual([false, null, false, null, false, null]);
  });

  it('internal email domains match exactly or as a parent domain', () => {
    expect(filter.isInternalEmail('ops@tea-example.com')).toBe(true);
    expect(filter.isInternalEmail('ops@eu.tea-example.com')).toBe(true);
    expect(filter.isInternalEmail('qa@staff.example.org')).toBe(true);
    expect(filter.isInternalEmail('maya@example.com')).toBe(false);
    expect(filter.isInternalEmail('eve@nottea-example.com')).toBe(false);
  });

  it('a plan pattern adds to the maintained list, and wins over the relay exemption', () => {
    const withPatterns = new BotFilter(planWith((t) => t.replace('user_agent_patterns: []', 'user_agent_patterns: ["tea-uptime", "/^analytics-ruby/"]')).botFilter, { ipRanges: [], emailDomains: [], dropTier1: false });
    expect(withPatterns.classify({ ip: null, userAgent: 'Mozilla/5.0 (X11) Tea-Uptime/1.0' })).toBe('bot');
    expect(withPatterns.classify({ ip: null, userAgent: 'analytics-ruby/2.4.0' })).toBe('bot');
    expect(withPatterns.classify({ ip: null, userAgent: 'analytics-python/2.3.2' })).toBeNull();
  });

  it('a /regex/ pattern from the plan', () => {
    const custom = new BotFilter({ ...plan.botFilter, matchers: [(ua: string) => /^Synthetic-\d+$/i.test(ua)] }, { ipRanges: [], emailDomains: [], dropTier1: false });
    expect(custom.classify({ ip: null, userAgent: 'synthetic-42' })).toBe('bot');
  });

  it('parseCidr rejects malformed entries', () => {
    expect(parseCidr('10.0.0.0/33')).toMatch(/prefix/);
    expect(parseCidr('10.0.0/8')).toMatch(/not an IPv4/);
    expect(parseCidr('::1/129')).toMatch(/prefix/);
    expect(parseCidr('10.0.0.0/8/1')).toMatch(/not an IPv4/);
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
  });
});

describe('bot filter in the pipeline', () => {
  const p = pipeline();
  const [pageView] = journeyMessages();
  const addToCart = journeyMessages()[2]!;
  /** The message with its end user's context replaced (the fixture's is an iPhone at 203.0.113.24). */
  const withContext = (m: Record<string, unknown>, context: Record<string, unknown>) => ({ ...m, context });

  it('drops a tier 2 view whose end user is a bot', () => {
    const out = p.process(appInput(withContext(pageView!, { userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0)' })));
    expect(out).toEqual({ candidates: [], quarantine: null, drops: [{ reason: 'bot', event_name: 'page_viewed' }], seen: expect.objectContaining({ sourceEvent: 'page' }) });
  });

  it("never judges the transport's agent: a server-side SDK's browse events are kept", () => {
    const serverView = { type: 'page', messageId: 'srv-1', userId: 'cus_1', name: 'Home', timestamp: '2026-11-20T19:00:00Z' };
    for (const transport of ['curl/8.5.0', 'python-requests/2.32.3', 'analytics-node-next/latest', 'analytics-python/2.3.2']) {
      const c = only(p.process(appInput(serverView, { user_agent: transport, ip: '10.0.0.9' })));
      expect(c.event.name).toBe('page_viewed');
      expect(c.event.validation_warnings).toEqual([]);
    }
    // A person's browser agent relayed by a backend is judged, not the backend's.
    const relayed = only(p.process(appInput(pageView!, { user_agent: 'python-requests/2.32.3' })));
    expect(relayed.event.validation_warnings).toEqual([]);
  });

  it('drops a tier 2 view from an internal IP (IPv4 and IPv6), from the context', () => {
    expect(p.process(appInput(withContext(pageView!, { ip: '10.20.30.40' }))).drops).toEqual([{ reason: 'internal_traffic', event_name: 'page_viewed' }]);
    expect(p.process(appInput(withContext(pageView!, { ip: 'fd00::1234' }))).drops).toEqual([{ reason: 'internal_traffic', event_name: 'page_viewed' }]);
  });

  it("uses the request's address only when the browser posted the message itself", () => {
    const ua = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';
    const browserView = withContext(pageView!, { userAgent: ua });
    expect(p.process(appInput(browserView, { user_agent: ua, ip: '10.20.30.40' })).drops).toEqual([{ reason: 'internal_traffic', event_name: 'page_viewed' }]);
    expect(only(p.process(appInput(browserView, { user_agent: 'analytics-node-next/latest', ip: '10.20.30.40' }))).event.validation_warnings).toEqual([]);
  });

  it('drops bot browse traffic even when it would otherwise be quarantined', () => {
    const out = p.process(appInput({ type: 'page', messageId: 'p', name: 'Home', context: { userAgent: 'AhrefsBot/7.0' } }));
    expect(out.quarantine).toBeNull();
    expect(out.drops).toEqual([{ reason: 'bot', event_name: 'page_viewed' }]);
  });

  it('keeps a tier 1 event from internal traffic, flagged, unless configured to drop', () => {
    const internal = withContext(addToCart, { ip: '10.0.0.5' });
    const c = only(p.process(appInput(internal)));
    expect(c.event.validation_warnings).toEqual(['internal_traffic']);
    const strict = pipeline({ internal: { ipRanges: ['10.0.0.0/8'], emailDomains: [], dropTier1: true } });
    expect(strict.process(appInput(internal)).drops).toEqual([{ reason: 'internal_traffic', event_name: 'added_to_cart' }]);
  });

  it('keeps a tier 1 event with a bot user agent, flagged', () => {
    expect(only(p.process(appInput(withContext(addToCart, { userAgent: 'python-requests/2.31' })))).event.validation_warnings).toEqual(['bot_traffic']);
  });

  it("judges a Shopify order by its buyer's browser (client_details), not by Shopify", () => {
    const order = (clientDetails: string) => fixture('shopify/orders-create.json').toString().replace(/^\{/, `{"client_details": ${clientDetails},`);
    const bot = only(p.process(shopifyInput('orders/create', order('{"browser_ip": "198.51.100.7", "user_agent": "Go-http-client/1.1"}'))));
    expect(bot.event.validation_warnings).toEqual(['bot_traffic']);
    expect(bot.event.commerce?.order_id).toBe('5904832711894301745');
    const office = only(p.process(shopifyInput('orders/create', order('{"browser_ip": "10.1.1.1", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}'))));
    expect(office.event.validation_warnings).toEqual(['internal_traffic']);
    expect(only(p.process(shopifyInput('orders/create', order('null')))).event.validation_warnings).toEqual([]);
  });

  it('flags an order from an internal email domain', () => {
    // Edit the raw text: a JSON.parse round trip would corrupt the 19-digit ids.
    const body = fixture('shopify/orders-create.json').toString().replace('"email": "Maya.Lindqvist@Example.com "', '"email": "QA@Tea-Example.com"');
    expect(body).toContain('QA@Tea-Example.com');
    const c = only(p.process(shopifyInput('orders/create', body)));
    expect(c.event.validation_warnings).toEqual(['internal_traffic']);
    expect(c.event.commerce?.order_id).toBe('5904832711894301745');
  });

  it('ordinary traffic passes untouched', () => {
    expect(only(p.process(appInput(pageView!))).event.validation_warnings).toEqual([]);
  });
});
