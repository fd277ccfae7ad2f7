import { describe, expect, it } from 'vitest';
import { BotFilter, parseCidr } from '../src/bot-filter.ts';
import { appInput, fixture, journeyMessages, only, pipeline, plan, shopifyInput } from './helpers.ts';

const filter = new BotFilter(plan.botFilter, {
  ipRanges: ['10.0.0.0/8', '192.168.1.0/24', '203.0.113.7', '2001:db8:abcd::/48', 'fd00::/8'],
  emailDomains: ['tea-example.com', '@staff.example.org'],
  dropTier1: false,
});

describe('BotFilter.classify', () => {
  it.each([
    ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'bot'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36', 'bot'],
    ['curl/8.5.0', 'bot'],
    ['python-requests/2.32.3', 'bot'],
    ['Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome-Lighthouse', 'bot'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1', null],
  ])('user agent %j -> %s', (ua, cls) => {
    expect(filter.classify({ ip: '198.51.100.1', userAgent: ua })).toBe(cls);
  });

  it.each([
    ['10.1.2.3', true], ['192.168.1.200', true], ['192.168.2.1', false], ['203.0.113.7', true], ['203.0.113.8', false],
    ['2001:db8:abcd:12::1', true], ['2001:db8:abce::1', false], ['fd12:3456::1', true], ['::ffff:10.9.9.9', true],
    ['[2001:db8:abcd::5]', true], ['fe80::1%eth0', false], ['not-an-ip', false], ['198.51.100.1', false],
  ])('ip %s internal: %s', (ip, internal) => {
    expect(filter.isInternalIp(ip)).toBe(internal);
    expect(filter.classify({ ip, userAgent: 'Mozilla/5.0' })).toBe(internal ? 'internal_traffic' : null);
  });

  it('internal email domains match exactly or as a parent domain', () => {
    expect(filter.isInternalEmail('ops@tea-example.com')).toBe(true);
    expect(filter.isInternalEmail('ops@eu.tea-example.com')).toBe(true);
    expect(filter.isInternalEmail('qa@staff.example.org')).toBe(true);
    expect(filter.isInternalEmail('maya@example.com')).toBe(false);
    expect(filter.isInternalEmail('eve@nottea-example.com')).toBe(false);
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

  it('drops a tier 2 view from a bot user agent', () => {
    const out = p.process(appInput(pageView!, { user_agent: 'Mozilla/5.0 (compatible; bingbot/2.0)' }));
    expect(out).toEqual({ candidates: [], quarantine: null, drops: [{ reason: 'bot', event_name: 'page_viewed' }] });
  });

  it('drops a tier 2 view from an internal IP (IPv4 and IPv6)', () => {
    expect(p.process(appInput(pageView!, { ip: '10.20.30.40' })).drops).toEqual([{ reason: 'internal_traffic', event_name: 'page_viewed' }]);
    expect(p.process(appInput(pageView!, { ip: 'fd00::1234' })).drops).toEqual([{ reason: 'internal_traffic', event_name: 'page_viewed' }]);
  });

  it('drops bot browse traffic even when it would otherwise be quarantined', () => {
    const out = p.process(appInput({ type: 'page', messageId: 'p', name: 'Home' }, { user_agent: 'AhrefsBot/7.0' }));
    expect(out.quarantine).toBeNull();
    expect(out.drops).toEqual([{ reason: 'bot', event_name: 'page_viewed' }]);
  });

  it('keeps a tier 1 event from internal traffic, flagged, unless configured to drop', () => {
    const c = only(p.process(appInput(addToCart, { ip: '10.0.0.5' })));
    expect(c.event.validation_warnings).toEqual(['internal_traffic']);
    const strict = pipeline({ internal: { ipRanges: ['10.0.0.0/8'], emailDomains: [], dropTier1: true } });
    expect(strict.process(appInput(addToCart, { ip: '10.0.0.5' })).drops).toEqual([{ reason: 'internal_traffic', event_name: 'added_to_cart' }]);
  });

  it('keeps a tier 1 event with a bot user agent, flagged', () => {
    expect(only(p.process(appInput(addToCart, { user_agent: 'python-requests/2.31' }))).event.validation_warnings).toEqual(['bot_traffic']);
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
