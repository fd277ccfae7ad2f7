// The repository's own tracking plan, as the normalizer and the schemas tool read it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMAS_DIR } from '../../src/schemas.ts';
import { loadTrackingPlan, type TrackingPlan } from '../../src/tracking-plan/tracking-plan.ts';

export const PLAN_PATH = join(SCHEMAS_DIR, 'tracking-plan.yaml');
export const plan: TrackingPlan = loadTrackingPlan(PLAN_PATH);
export const planText = (): string => readFileSync(PLAN_PATH, 'utf8');
