/**
 * Generates TypeScript types from the Avro schemas under schemas/avro. The output is checked in;
 * `schemas codegen --check` (run by `make test`) fails when it is stale.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

type AvroType = string | AvroType[] | { type: string; [k: string]: unknown };
interface AvroField { name: string; type: AvroType; doc?: string }
interface AvroRecord { type: 'record'; name: string; doc?: string; fields: AvroField[] }

export function loadSchemaFiles(dir: string): Array<{ file: string; schema: AvroRecord }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((file) => ({ file, schema: JSON.parse(readFileSync(join(dir, file), 'utf8')) as AvroRecord }));
}

export function generateTypes(files: Array<{ file: string; schema: AvroRecord }>): string {
  const out: string[] = [
    '// Generated from schemas/avro/*.avsc by `npm run schemas -- codegen`. Do not edit by hand.',
    '/* eslint-disable */',
    '',
  ];
  const emitted = new Set<string>();
  const emitRecord = (rec: AvroRecord, from: string): void => {
    if (emitted.has(rec.name)) return;
    emitted.add(rec.name);
    const nested: AvroRecord[] = [];
    const lines: string[] = [];
    if (rec.doc) lines.push(`/** ${rec.doc} (${from}) */`);
    lines.push(`export interface ${rec.name} {`);
    for (const field of rec.fields) {
      if (field.doc) lines.push(`  /** ${field.doc} */`);
      lines.push(`  ${field.name}: ${tsType(field.type, nested)};`);
    }
    lines.push('}', '');
    out.push(...lines);
    for (const n of nested) emitRecord(n, from);
  };
  for (const { file, schema } of files) emitRecord(schema, file);
  return out.join('\n');
}

function tsType(t: AvroType, nested: AvroRecord[]): string {
  if (Array.isArray(t)) return t.map((x) => tsType(x, nested)).join(' | ');
  if (typeof t === 'string') {
    switch (t) {
      case 'null': return 'null';
      case 'boolean': return 'boolean';
      case 'int': case 'long': case 'float': case 'double': return 'number';
      case 'string': return 'string';
      case 'bytes': return 'Buffer';
      default: return t.split('.').pop() ?? t;
    }
  }
  switch (t.type) {
    case 'record': nested.push(t as unknown as AvroRecord); return (t as unknown as AvroRecord).name;
    case 'array': return `Array<${tsType(t['items'] as AvroType, nested)}>`;
    case 'map': return `Record<string, ${tsType(t['values'] as AvroType, nested)}>`;
    case 'enum': return (t['symbols'] as string[]).map((s) => `'${s}'`).join(' | ');
    default: return tsType(t.type, nested);
  }
}
