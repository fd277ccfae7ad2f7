import { describe, expect, it } from 'vitest';
import { RestartBudget } from '../../scripts/restart-budget.ts';

describe('RestartBudget', () => {
  it('allows max restarts within the window and refuses the next', () => {
    const budget = new RestartBudget(3, 60_000);
    expect([0, 1_000, 2_000].map((t) => budget.take(t))).toEqual([true, true, true]);
    expect(budget.take(3_000)).toBe(false);
  });

  it('allows restarts again once the earlier ones leave the window', () => {
    const budget = new RestartBudget(2, 10_000);
    expect(budget.take(0)).toBe(true);
    expect(budget.take(5_000)).toBe(true);
    expect(budget.take(9_999)).toBe(false);
    expect(budget.take(10_000)).toBe(true);
    expect(budget.take(14_000)).toBe(false);
    expect(budget.take(15_000)).toBe(true);
  });

  it('a long session of spaced-out crashes never runs out', () => {
    const budget = new RestartBudget(5, 60_000);
    for (let i = 0; i < 100; i++) expect(budget.take(i * 20_000)).toBe(true);
  });
});
