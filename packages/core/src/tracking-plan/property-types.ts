/** The types a tracking plan can give a property; the normalizer coerces each (stages/coerce.ts). */
export type PropertyType = 'string' | 'number' | 'integer' | 'boolean' | 'currency' | 'email' | 'timestamp' | 'items';
export const PROPERTY_TYPES: readonly PropertyType[] = ['string', 'number', 'integer', 'boolean', 'currency', 'email', 'timestamp', 'items'];
