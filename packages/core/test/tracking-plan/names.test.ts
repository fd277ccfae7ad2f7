import { describe, expect, it } from 'vitest';
import { foldName } from '../../src/tracking-plan/names.ts';
import { plan } from './repository-plan.ts';

describe('foldName', () => {
  it.each([
    ['addToCart', 'add_to_cart'],
    ['AddToCart', 'add_to_cart'],
    ['Added To Cart', 'added_to_cart'],
    ['added-to-cart', 'added_to_cart'],
    ['checkout.started', 'checkout_started'],
    ['Checkout Started', 'checkout_started'],
    ['Product Viewed', 'product_viewed'],
    ['Order Completed', 'order_completed'],
    ['order_completed', 'order_completed'],
    ['  order  completed  ', 'order_completed'],
    ['ORDER_COMPLETED', 'order_completed'],
    ['HTMLPageViewed', 'html_page_viewed'],
    ['viewedProductV2', 'viewed_product_v2'],
    ['cart__value', 'cart_value'],
    ['cartValue', 'cart_value'],
    ['Order/Completed!', 'order_completed'],
    ['', ''],
    ['!!!', ''],
    // Combining marks belong to their letter: Devanagari and Thai vowel and tone signs are marks.
    ['खरीदा', 'खरीदा'],
    ['खरीदी', 'खरीदी'],
    ['Product खरीदा', 'product_खरीदा'],
    ['คลิก', 'คลิก'],
    ['คลิ๊ก', 'คลิ๊ก'],
    ['Café Visited', 'café_visited'],
    ['Cafe\u0301 Visited', 'café_visited'],
    ['a\u0331B', 'a\u0331_b'],
    // A mark without a letter before it is part of the separator ("´" is NFKC space + U+0301).
    ['\u0301order', 'order'],
    ['order\u00b4completed', 'order_completed'],
    ['order! \u0301completed', 'order_completed'],
    // Presentation only: variation selectors and enclosing marks (keycaps) are not part of a name.
    ['\u2764\ufe0f Liked', 'liked'],
    ['1\ufe0f\u20e3 Clicked', '1_clicked'],
    // "İ" lower-cases to i + U+0307: the dot is dropped, not turned into a word break.
    ['İade', 'iade'],
    ['Iade', 'iade'],
    ['I\u0307ade', 'iade'],
    ['i\u0307ade', 'iade'],
    ['İadeEdildi', 'iade_edildi'],
    ['İ\u0301', '\u00ed'],
    ['ıade', 'ıade'],
  ])('%j -> %j', (raw, folded) => {
    expect(foldName(raw)).toBe(folded);
  });

  it('keeps names that differ only in a combining mark apart', () => {
    expect(foldName('खरीदा')).not.toBe(foldName('खरीदी'));
    expect(foldName('คลิก')).not.toBe(foldName('คลิ๊ก'));
    expect(foldName('İade')).toBe(foldName('Iade'));
  });

  it('is idempotent', () => {
    for (const raw of ['addToCart', 'Checkout Started', 'HTMLPageViewed', 'a-b.c d', 'खरीदा', 'คลิ๊ก', 'İade', 'İ\u0307x', 'İ\u0301', 'a\u0331B', '1\ufe0f\u20e3 x']) {
      expect(foldName(foldName(raw)), raw).toBe(foldName(raw));
    }
  });
});

describe('plan name resolution', () => {
  it.each([
    ['order_completed', 'order_completed', 'exact'],
    ['Order Completed', 'order_completed', 'fold'],
    ['addToCart', 'added_to_cart', 'alias'],
    ['Added To Cart', 'added_to_cart', 'fold'],
    ['add-to-cart', 'added_to_cart', 'alias'],
    ['Product Viewed', 'product_viewed', 'fold'],
    ['viewedProduct', 'product_viewed', 'alias'],
    ['Checkout Started', 'checkout_started', 'fold'],
    ['beginCheckout', 'checkout_started', 'alias'],
    ['page', 'page_viewed', 'alias'],
    ['screen', 'screen_viewed', 'alias'],
    ['Purchase', 'order_completed', 'alias'],
    ['Subscription Canceled', 'subscription_cancelled', 'alias'],
    ['Wishlist Shared', 'wishlist_shared', 'unplanned'],
  ])('%j -> %s (%s)', (raw, name, via) => {
    const r = plan.resolveEventName(raw);
    expect(r.name).toBe(name);
    expect(r.via).toBe(via);
    expect(r.spec === null).toBe(via === 'unplanned');
  });

  it('resolves property aliases after folding', () => {
    expect(plan.resolvePropertyName('checkout_started', 'cart_value')).toBe('value');
    expect(plan.resolvePropertyName('checkout_started', 'cartValue')).toBe('value');
    expect(plan.resolvePropertyName('order_completed', 'totalPrice')).toBe('total');
    // Segment's revenue is a fact of its own (it excludes shipping and tax), not a name for total.
    expect(plan.resolvePropertyName('order_completed', 'revenue')).toBe('revenue');
    expect(plan.resolvePropertyName('order_completed', 'products')).toBe('items');
    expect(plan.resolvePropertyName('order_completed', 'orderId')).toBe('order_id');
    expect(plan.resolvePropertyName('order_completed', 'affiliation')).toBeNull();
  });
});
