import { readFileSync } from 'node:fs';
import { PipelineError } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { toBoolean, toIdString } from './coerce.ts';
import { isPlainObject, parseJsonLossless } from './json.ts';

export interface ProductInfo {
  category: string | null;
  subscription_eligible: boolean | null;
}

/** Product facts keyed by sku and by product id (two maps: a sku and a product id may share digits). */
export interface ProductTable {
  bySku: ReadonlyMap<string, ProductInfo>;
  byProductId: ReadonlyMap<string, ProductInfo>;
}

export class ProductTableError extends PipelineError {
  constructor(message: string) {
    super('PRODUCT_TABLE_INVALID', message);
  }
}

export const EMPTY_PRODUCT_TABLE: ProductTable = { bySku: new Map(), byProductId: new Map() };

/** Reads a product table from JSON (an array of rows) or CSV (header row: sku,product_id,category,subscription_eligible). */
export function loadProductTable(path: string): ProductTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ProductTableError(`cannot read product table ${path}: ${(err as Error).message}`);
  }
  return path.toLowerCase().endsWith('.csv') ? parseProductCsv(text, path) : parseProductJson(text, path);
}

export function parseProductJson(text: string, where = '(inline)'): ProductTable {
  let rows: unknown;
  try {
    rows = parseJsonLossless(text);
  } catch (err) {
    throw new ProductTableError(`product table ${where}: ${(err as Error).message}`);
  }
  if (!Array.isArray(rows)) throw new ProductTableError(`product table ${where} must be a JSON array of rows`);
  return buildTable(rows.map((row, i) => {
    if (!isPlainObject(row)) throw new ProductTableError(`product table ${where} row ${i} must be an object`);
    return row;
  }), where);
}

export function parseProductCsv(text: string, where = '(inline)'): ProductTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
  if (!header.includes('sku') && !header.includes('product_id')) {
    throw new ProductTableError(`product table ${where}: the header must name sku and/or product_id`);
  }
  const rows = lines.slice(1).map((line) => {
    const cells = splitCsvLine(line);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]?.trim() ?? '']));
  });
  return buildTable(rows, where);
}

/** Minimal RFC 4180 line split: quoted cells may hold commas and doubled quotes. */
function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { cells.push(cell); cell = ''; }
    else cell += ch;
  }
  cells.push(cell);
  return cells;
}

function buildTable(rows: Record<string, unknown>[], where: string): ProductTable {
  const bySku = new Map<string, ProductInfo>();
  const byProductId = new Map<string, ProductInfo>();
  rows.forEach((row, i) => {
    const sku = row['sku'] === undefined || row['sku'] === '' || row['sku'] === null ? null : toIdString(row['sku']);
    const pid = row['product_id'] === undefined || row['product_id'] === '' || row['product_id'] === null ? null : toIdString(row['product_id']);
    if (!sku?.ok && !pid?.ok) throw new ProductTableError(`product table ${where} row ${i + 1} has neither a sku nor a product_id`);
    const eligibleRaw = row['subscription_eligible'];
    const eligible = eligibleRaw === undefined || eligibleRaw === '' || eligibleRaw === null ? null : toBoolean(eligibleRaw);
    if (eligible && !eligible.ok) throw new ProductTableError(`product table ${where} row ${i + 1}: subscription_eligible ${eligible.message}`);
    const category = typeof row['category'] === 'string' && row['category'] !== '' ? row['category'] : null;
    const info: ProductInfo = { category, subscription_eligible: eligible?.ok ? eligible.value : null };
    if (sku?.ok) bySku.set(sku.value, info);
    if (pid?.ok) byProductId.set(pid.value, info);
  });
  return { bySku, byProductId };
}

function lookup(table: ProductTable, sku: string | null | undefined, productId: string | null | undefined): ProductInfo | undefined {
  return (sku ? table.bySku.get(sku) : undefined) ?? (productId ? table.byProductId.get(productId) : undefined);
}

/**
 * Fills category and subscription_eligible on line items, and on the event's properties when the
 * event is about one product (commerce.sku or product_id). Values the source sent are kept.
 * Returns a new event; the input is not changed.
 */
export function enrichEvent(event: CanonicalEvent, table: ProductTable): CanonicalEvent {
  if (!event.commerce || (table.bySku.size === 0 && table.byProductId.size === 0)) return event;
  const items = event.commerce.items.map((item) => {
    const info = lookup(table, item.sku, item.product_id);
    if (!info) return item;
    return { ...item, category: item.category ?? info.category, subscription_eligible: item.subscription_eligible ?? info.subscription_eligible };
  });
  const properties = { ...event.properties };
  const info = lookup(table, event.commerce.sku, event.commerce.product_id);
  if (info) {
    if (properties['category'] === undefined && info.category !== null) properties['category'] = info.category;
    if (properties['subscription_eligible'] === undefined && info.subscription_eligible !== null) {
      properties['subscription_eligible'] = info.subscription_eligible;
    }
  }
  return { ...event, commerce: { ...event.commerce, items }, properties };
}
