/** The tracking plan (schemas/tracking-plan.yaml): one parser for the normalizer and the schemas tool. */
export * from './tracking-plan.ts';
export * from './property-types.ts';
export { foldName, MAX_NAME_CHARS, NAME_MEMO_MAX_BYTES, nameMemoSize } from './names.ts';
