/**
 * The store's orders export: JSON lines of Shopify orders as the Admin API returns them, the file
 * backfill reads. Parsed losslessly: order ids pass 2^53 and must keep every digit.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { isLosslessNumber, parse } from 'lossless-json';
import { parseIsoTimestamp } from '@cio-pipeline/core';

export interface ExportOrder {
  /** Shopify's numeric order id, as text: the business key receipts carry. */
  orderId: string;
  /** Other names a source may give the same order (name, GraphQL id, order number, checkout token). */
  aliases: string[];
  createdAt: number;
}

export interface OrdersExport {
  /** One entry per distinct order id (the first line that names it). */
  orders: ExportOrder[];
  /** Lines naming an order already seen earlier in the file. */
  repeatedLines: number;
  /** Lines that are not an order with an id and a created_at: line number and why. */
  unreadable: Array<{ line: number; why: string }>;
}

function text(value: unknown): string | null {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' || isLosslessNumber(value)) return String(value);
  return null;
}

/** One line of the export, or why it is not an order. */
export function parseOrderLine(line: string): ExportOrder | { why: string } {
  let parsed: unknown;
  try {
    parsed = parse(line);
  } catch (err) {
    return { why: `not JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { why: 'not a JSON object' };
  const o = parsed as Record<string, unknown>;
  const orderId = text(o['id']);
  if (orderId === null) return { why: 'no id' };
  const created = text(o['created_at']);
  const createdAt = created === null ? null : parseIsoTimestamp(created);
  if (createdAt === null) return { why: `order ${orderId}: no ISO-8601 created_at` };
  const aliases = [o['name'], o['admin_graphql_api_id'], o['order_number'], o['checkout_token']]
    .map(text)
    .filter((a): a is string => a !== null && a !== orderId);
  return { orderId, aliases, createdAt };
}

/** Distinct orders of the export, line by line. */
export class OrdersCollector {
  private readonly out: OrdersExport = { orders: [], repeatedLines: 0, unreadable: [] };
  private readonly seen = new Set<string>();
  private n = 0;

  add(line: string): void {
    this.n++;
    if (line.trim() === '') return;
    const order = parseOrderLine(line);
    if ('why' in order) this.out.unreadable.push({ line: this.n, why: order.why });
    else if (this.seen.has(order.orderId)) this.out.repeatedLines++;
    else {
      this.seen.add(order.orderId);
      this.out.orders.push(order);
    }
  }

  result(): OrdersExport {
    return this.out;
  }
}

export function collectOrders(lines: Iterable<string>): OrdersExport {
  const collector = new OrdersCollector();
  for (const line of lines) collector.add(line);
  return collector.result();
}

/** The file's lines, streamed: an export of a million orders is not held in memory as text. */
export function exportLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file), crlfDelay: Infinity });
}

export async function readOrdersExport(file: string): Promise<OrdersExport> {
  const collector = new OrdersCollector();
  for await (const line of exportLines(file)) collector.add(line);
  return collector.result();
}
