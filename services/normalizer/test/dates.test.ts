import { afterEach, describe, expect, it } from 'vitest';
import { toTimestampMs, toUnixSeconds } from '../src/stages/coerce.ts';
import { appInput, only, pipeline, planWith } from './helpers.ts';

/** Issue #12: dates go out as Customer.io compares them (unix seconds); a bad one costs only itself. */

const JUNE_1_10AM_UTC = 1_717_236_000;

const identify = (traits: Record<string, unknown>) =>
  appInput({ type: 'identify', messageId: 'm-id', userId: 'cus_1', anonymousId: 'anon-1', traits, timestamp: '2026-11-20T19:00:00Z' });

describe('date attributes on identify', () => {
  const p = pipeline();

  it('created_at as ISO-8601 goes out as unix seconds, with the rest of the profile', () => {
    const c = only(p.process(identify({ created_at: '2024-06-01T10:00:00Z', first_name: 'Ada' })));
    expect(c.event.attributes).toEqual({ created_at: JUNE_1_10AM_UTC, first_name: 'Ada' });
    expect(c.event.anonymous_id).toBe('anon-1');
    expect(c.event.validation_warnings).toEqual([]);
  });

  it.each([
    ['2024-06-01T12:00:00+02:00'],
    ['2024-06-01T10:00:00.999Z'],
    [JUNE_1_10AM_UTC],
    [JUNE_1_10AM_UTC * 1000],
    [String(JUNE_1_10AM_UTC)],
  ])('created_at %j -> unix seconds', (createdAt) => {
    expect(only(p.process(identify({ created_at: createdAt }))).event.attributes['created_at']).toBe(JUNE_1_10AM_UTC);
  });

  it('an unconvertible created_at is left out with a warning; the identify is not quarantined', () => {
    const out = p.process(identify({ created_at: 'not a date', first_name: 'Ada' }));
    expect(out.quarantine).toBeNull();
    const c = only(out);
    expect(c.event.attributes).toEqual({ first_name: 'Ada' });
    expect(c.event.anonymous_id).toBe('anon-1');
    expect(c.event.validation_warnings).toEqual(['invalid_type:attributes.created_at']);
  });

  it('any attribute the plan types, when unconvertible, costs only itself', () => {
    const c = only(p.process(identify({ verified_email: 'perhaps', first_name: 'Ada' })));
    expect(c.event.attributes).toEqual({ first_name: 'Ada' });
    expect(c.event.validation_warnings).toEqual(['invalid_type:attributes.verified_email']);
  });
});

describe('timestamp-typed event properties', () => {
  const withDate = planWith((t) => t.replace(/( {2}subscription_created:[\s\S]*?optional:\n)/, '$1      next_charge_at: timestamp\n'));
  const p = pipeline({}, withDate);

  it('go out as unix seconds', () => {
    const c = only(p.process(appInput({
      type: 'track', event: 'Subscription Created', userId: 'cus_1', messageId: 'm-sub', timestamp: '2026-11-20T19:00:00Z',
      properties: { subscription_id: 'sub_1', next_charge_at: '2024-06-01T10:00:00' },
    })));
    expect(c.event.properties['next_charge_at']).toBe(JUNE_1_10AM_UTC);
  });
});

describe('ISO-8601 without an offset is UTC, whatever the host zone', () => {
  const original = process.env['TZ'];
  afterEach(() => {
    if (original === undefined) delete process.env['TZ'];
    else process.env['TZ'] = original;
  });

  it.each(['UTC', 'America/New_York', 'Asia/Kolkata'])('under TZ=%s', (zone) => {
    process.env['TZ'] = zone;
    const ms = toTimestampMs('2024-06-01T10:00:00');
    expect(ms).toEqual({ ok: true, value: JUNE_1_10AM_UTC * 1000 });
    expect(toUnixSeconds('2024-06-01 10:00:00')).toEqual({ ok: true, value: JUNE_1_10AM_UTC });
    // The host zone really is in effect: Date's local methods see it.
    if (zone === 'America/New_York') expect(new Date(JUNE_1_10AM_UTC * 1000).getHours()).toBe(6);
  });
});
