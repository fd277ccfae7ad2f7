import { describe, expect, it } from 'vitest';
import { errorPointers, stripRejectedAttributes } from '../src/attribute-strip.ts';
import { CioRejectedError } from '../src/errors.ts';
import { mapEvent, type V1Delivery } from '../src/mapping.ts';
import { makeEvent } from './helpers.ts';

const identifyEvent = () =>
  makeEvent({ kind: 'identify', name: 'identify', customer_id: 'c1', email: 'ann@example.com', anonymous_id: 'anon-1', attributes: { created_at: '2024-06-01T10:00:00Z', first_name: 'Ann', plan: 'pro' } });
const v2Error = (...fields: string[]) => new CioRejectedError(207, JSON.stringify({ errors: fields.map((field) => ({ batch_index: 0, reason: 'invalid_value', field, message: `${field} is wrong` })) }));
const v1Error = (...messages: string[]) => new CioRejectedError(400, JSON.stringify({ meta: { errors: messages } }));

describe('stripRejectedAttributes', () => {
  it('v2: drops the attributes a 207 names, keeps identifiers, the rest and the anonymous-id link', () => {
    const out = stripRejectedAttributes(mapEvent(identifyEvent(), 'v2'), v2Error('attributes.created_at'));
    expect(out?.removed).toEqual({ created_at: '2024-06-01T10:00:00Z' });
    const item = JSON.parse(out!.item.json) as Record<string, unknown>;
    expect(item).toEqual({ type: 'person', action: 'identify', identifiers: { id: 'c1' }, attributes: { first_name: 'Ann', plan: 'pro', email: 'ann@example.com', anonymous_id: 'anon-1' } });
    expect(out!.item.api === 'v2' && out!.item.bytes).toBe(Buffer.byteLength(out!.item.json));
  });

  it('v1: reads the field from meta.errors messages, with or without the attributes. prefix', () => {
    const item = mapEvent(identifyEvent(), 'v1') as V1Delivery;
    const out = stripRejectedAttributes(item, v1Error('created_at: created_at must be an integer number of unix seconds', 'attributes.plan: attribute value must be at most 1000 bytes'));
    expect(out?.removed).toEqual({ created_at: '2024-06-01T10:00:00Z', plan: 'pro' });
    const next = out!.item as V1Delivery;
    expect(next).toMatchObject({ method: 'PUT', path: item.path });
    expect(JSON.parse(next.body!)).toEqual({ first_name: 'Ann', email: 'ann@example.com', anonymous_id: 'anon-1' });
    expect(JSON.parse(next.json)).toEqual({ method: 'PUT', path: item.path, body: JSON.parse(next.body!) });
  });

  it('gives up (dead-letter it all) when an error names no attribute of this identify', () => {
    const v2 = mapEvent(identifyEvent(), 'v2');
    expect(stripRejectedAttributes(v2, v2Error('attributes.created_at', 'identifiers.id'))).toBeNull();
    expect(stripRejectedAttributes(v2, v2Error('attributes.nope'))).toBeNull();
    expect(stripRejectedAttributes(v2, new CioRejectedError(207, JSON.stringify({ errors: [{ batch_index: 0, reason: 'too_many', message: 'cannot identify more than 300 attributes' }] })))).toBeNull();
    expect(stripRejectedAttributes(v2, new CioRejectedError(400, 'not json'))).toBeNull();
    expect(stripRejectedAttributes(mapEvent(identifyEvent(), 'v1'), new CioRejectedError(400, JSON.stringify({ meta: { error: 'name cannot be blank' } })))).toBeNull();
  });

  it('never touches an event, only identifies', () => {
    const event = makeEvent({ customer_id: 'c1', properties: { created_at: 'x' } });
    expect(stripRejectedAttributes(mapEvent(event, 'v2'), v2Error('attributes.created_at'))).toBeNull();
    expect(stripRejectedAttributes(mapEvent(event, 'v1'), v1Error('created_at: bad'))).toBeNull();
  });

  it('matches the longest attribute name in a v1 message', () => {
    const e = makeEvent({ kind: 'identify', name: 'identify', customer_id: 'c1', attributes: { pla: 1, plan: 'x' } });
    expect(stripRejectedAttributes(mapEvent(e, 'v1'), v1Error('plan: bad'))?.removed).toEqual({ plan: 'x' });
  });

  it('errorPointers reads both error shapes', () => {
    expect(errorPointers('{"errors":[{"field":"attributes.a"}]}')).toEqual([{ field: 'attributes.a' }]);
    expect(errorPointers('{"meta":{"error":"a: b"}}')).toEqual([{ message: 'a: b' }]);
    expect(errorPointers('{"errors":[]}')).toBeNull();
    expect(errorPointers('[]')).toBeNull();
  });
});
