import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProductTable, parseProductCsv, parseProductJson, ProductTableError } from '../src/stages/enrich.ts';
import { appInput, fixture, journeyMessages, only, pipeline, rechargeInput, shopifyInput } from './helpers.ts';

const csv = 'sku,product_id,category,subscription_eligible\nTEA-SENCHA-100,8123456789012,green tea,true\n"3141592",8123456789013,"teaware, cast iron",false\n';

describe('product table', () => {
  it('parses CSV (quoted cells) and JSON with the same result', () => {
    const a = parseProductCsv(csv);
    const b = parseProductJson('[{"sku":"TEA-SENCHA-100","product_id":8123456789012,"category":"green tea","subscription_eligible":true},{"sku":3141592,"product_id":8123456789013,"category":"teaware, cast iron","subscription_eligible":false}]');
    expect(a).toEqual(b);
    expect(a.bySku.get('3141592')).toEqual({ category: 'teaware, cast iron', subscription_eligible: false });
    expect(a.byProductId.get('8123456789012')).toEqual({ category: 'green tea', subscription_eligible: true });
  });

  it('loads by file extension and reports bad tables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'products-'));
    writeFileSync(join(dir, 'p.csv'), csv);
    expect(loadProductTable(join(dir, 'p.csv')).bySku.size).toBe(2);
    expect(() => loadProductTable(join(dir, 'missing.json'))).toThrow(ProductTableError);
    expect(() => parseProductJson('{"sku":"a"}')).toThrow(/JSON array/);
    expect(() => parseProductCsv('name,category\nx,y')).toThrow(/sku/);
    expect(() => parseProductJson('[{"category":"x"}]')).toThrow(/row 1 has neither/);
    expect(() => parseProductJson('[{"sku":"a","subscription_eligible":"perhaps"}]')).toThrow(/subscription_eligible/);
  });
});

describe('enrichment in the pipeline', () => {
  const p = pipeline({ productTable: parseProductCsv(csv) });

  it('fills line items of an order by sku', () => {
    const items = only(p.process(shopifyInput('orders/create', fixture('shopify/orders-create.json')))).event.commerce?.items;
    expect(items?.map((i) => [i.sku, i.category, i.subscription_eligible])).toEqual([
      ['TEA-SENCHA-100', 'green tea', true],
      ['3141592', 'teaware, cast iron', false],
    ]);
  });

  it('fills a single-product event\'s properties, keeping what the source sent', () => {
    const viewed = only(p.process(appInput(journeyMessages()[1]!))).event;
    expect(viewed.properties).toMatchObject({ category: 'green tea', subscription_eligible: true });
    const sent = only(p.process(appInput({ ...journeyMessages()[1]!, properties: { sku: 'TEA-SENCHA-100', category: 'featured' } }))).event;
    expect(sent.properties['category']).toBe('featured');
    const sub = only(p.process(rechargeInput('subscription/created', fixture('recharge/subscription-created.json')))).event;
    expect(sub.properties['subscription_eligible']).toBe(true);
  });

  it('leaves unknown products and events without commerce alone', () => {
    const page = only(p.process(appInput(journeyMessages()[0]!))).event;
    expect(page.properties).toEqual({ path: '/products/sencha-100', name: 'Sencha 100g' });
    const unknown = only(p.process(appInput({ ...journeyMessages()[1]!, properties: { sku: 'NOPE' } }))).event;
    expect(unknown.properties).toEqual({});
  });
});
