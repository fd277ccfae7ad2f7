import { describe, expect, it } from 'vitest';
import { eventData } from '../../sink/src/mapping.ts';
import { appInput, only, pipeline, planWith } from './helpers.ts';

/**
 * Issue #12: Segment's e-commerce spec is kept and typed. revenue (before shipping and tax),
 * total, shipping, tax, discount and coupon are different facts and stay distinct; products keep
 * url, image_url, brand, variant, coupon and position.
 */

const p = pipeline();

const order = (properties: Record<string, unknown>) => appInput({
  type: 'track', event: 'Order Completed', userId: 'cus_1', messageId: 'm-order', timestamp: '2026-11-20T19:00:00Z', properties,
});

const segmentProduct = {
  product_id: '507f1f77bcf86cd799439011', sku: '45790-32', category: 'Games', name: 'Monopoly: 3rd Edition', brand: 'Hasbro',
  variant: '200 pieces', price: '18.99', quantity: 1, coupon: 'MAYDEALS', position: '3',
  url: 'https://www.example.com/product/path', image_url: 'https://www.example.com/product/path.jpg',
};

describe("Segment's Order Completed", () => {
  it('keeps revenue, total, shipping, tax, discount and coupon distinct and typed', () => {
    const c = only(p.process(order({
      order_id: '50314b8e9bcf000000000000', affiliation: 'Google Store', total: '27.50', subtotal: 22.5, revenue: 25.0,
      shipping: '3', tax: 2, discount: 2.5, coupon: 'hasbros', currency: 'usd', products: [segmentProduct],
    })));
    expect(c.event.commerce).toMatchObject({
      order_id: '50314b8e9bcf000000000000', total: 27.5, subtotal: 22.5, revenue: 25, shipping: 3, tax: 2, discount: 2.5, coupon: 'hasbros', currency: 'USD',
    });
    expect(c.event.properties).toEqual({ affiliation: 'Google Store' });
    expect(c.event.validation_warnings).toEqual([]);
  });

  it('keeps every product field of the spec, typed', () => {
    const c = only(p.process(order({ order_id: 'o-1', total: 18.99, currency: 'USD', products: [segmentProduct] })));
    expect(c.event.commerce?.items).toEqual([{
      product_id: '507f1f77bcf86cd799439011', variant_id: null, sku: '45790-32', name: 'Monopoly: 3rd Edition', price: 18.99, quantity: 1,
      category: 'Games', subscription_eligible: null, brand: 'Hasbro', variant: '200 pieces', coupon: 'MAYDEALS', position: 3,
      url: 'https://www.example.com/product/path', image_url: 'https://www.example.com/product/path.jpg',
    }]);
  });

  it('an order with revenue only takes it as its total, and keeps revenue', () => {
    const c = only(p.process(order({ order_id: 'o-2', revenue: 25, currency: 'USD' })));
    expect(c.event.commerce).toMatchObject({ total: 25, revenue: 25 });
  });

  it('a mistyped descriptive product field is left out, the order is not lost', () => {
    const c = only(p.process(order({ order_id: 'o-3', total: 5, currency: 'USD', products: [{ sku: 'A', price: 5, position: 'first', brand: { nested: true } }] })));
    expect(c.event.commerce?.items[0]).toMatchObject({ sku: 'A', position: null, brand: null });
  });

  it('reaches Customer.io whole: the sink maps every field into the event data', () => {
    const c = only(p.process(order({
      order_id: 'o-4', total: 27.5, revenue: 25, shipping: 3, tax: 2, discount: 2.5, coupon: 'hasbros', currency: 'USD', products: [segmentProduct],
    })));
    const data = eventData(c.event);
    expect(data).toMatchObject({ total: 27.5, revenue: 25, shipping: 3, tax: 2, discount: 2.5, coupon: 'hasbros' });
    expect(data['items']).toEqual([expect.objectContaining({ brand: 'Hasbro', variant: '200 pieces', coupon: 'MAYDEALS', position: 3, url: segmentProduct.url, image_url: segmentProduct.image_url })]);
  });
});

describe("Segment's Checkout Started", () => {
  const checkout = (properties: Record<string, unknown>) => appInput({
    type: 'track', event: 'Checkout Started', userId: 'cus_1', messageId: 'm-co', timestamp: '2026-11-20T19:00:00Z', properties,
  });

  it('keeps value, total and revenue distinct', () => {
    const c = only(p.process(checkout({ checkout_id: 'co-1', currency: 'USD', value: 30, total: 27.5, revenue: 25, shipping: 3, coupon: 'X' })));
    expect(c.event.commerce).toMatchObject({ value: 30, total: 27.5, revenue: 25, shipping: 3, coupon: 'X' });
  });

  it('a checkout with total only takes it as its value', () => {
    expect(only(p.process(checkout({ checkout_id: 'co-2', currency: 'USD', total: 27.5 }))).event.commerce).toMatchObject({ value: 27.5, total: 27.5 });
  });
});

describe('plan: property_fallbacks', () => {
  const problems = (edit: (t: string) => string): string[] => {
    try {
      planWith(edit);
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };

  it('names undeclared properties and mismatched types', () => {
    expect(problems((t) => t.replace('      total: [revenue]', '      total: [affiliation]')))
      .toContain('events.order_completed.property_fallbacks.total: "affiliation" is not a property the event declares');
    expect(problems((t) => t.replace('      total: [revenue]', '      total: [coupon]')))
      .toContain('events.order_completed.property_fallbacks.total: "coupon" is string, total is number');
    expect(problems((t) => t.replace('      total: [revenue]', '      affiliation: [revenue]')))
      .toContain('events.order_completed.property_fallbacks.affiliation names a property the event does not declare');
  });
});
