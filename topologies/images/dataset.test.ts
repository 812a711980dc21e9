import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { evaluate, split } from './dataset.js';

describe('split', () => {
  it('is a function of the seed: disjoint, complete, and the holdout fraction rounded (at least one)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 200 }),
        fc.double({ min: 0.01, max: 0.9, noNaN: true }),
        fc.integer(),
        (n, f, seed) => {
          const items = Array.from({ length: n }, (_, i) => i);
          const a = split(items, f, seed);
          assert.deepEqual(split(items, f, seed), a);
          assert.deepEqual(
            [...a.train, ...a.holdout].sort((x, y) => x - y),
            items,
          );
          assert.equal(a.holdout.length, Math.min(n - 1, Math.max(1, Math.round(n * f))));
        },
      ),
    );
    const items = Array.from({ length: 100 }, (_, i) => i);
    assert.notDeepEqual(split(items, 0.2, 1).holdout, split(items, 0.2, 2).holdout);
    assert.deepEqual(split(items, 0, 1).holdout, []);
  });
});

describe('evaluate', () => {
  it('computes accuracy, per-class precision, recall and F1, macro F1 and the confusion matrix', () => {
    // truth:     a a a b b c
    // predicted: a a b b c c
    const { metrics, confusionMatrix } = evaluate([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ['a', 'b', 'c']);
    assert.deepEqual(confusionMatrix, [
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    assert.equal(metrics.accuracy, 4 / 6);
    assert.equal(metrics['precision.a'], 1);
    assert.equal(metrics['recall.a'], 2 / 3);
    assert.equal(metrics['precision.b'], 0.5);
    assert.equal(metrics['recall.b'], 0.5);
    assert.equal(metrics['precision.c'], 0.5);
    assert.equal(metrics['recall.c'], 1);
    const f1 = (p: number, r: number) => (2 * p * r) / (p + r);
    assert.ok(Math.abs(metrics['f1.a']! - f1(1, 2 / 3)) < 1e-12);
    assert.ok(Math.abs(metrics.macro_f1! - (f1(1, 2 / 3) + 0.5 + f1(0.5, 1)) / 3) < 1e-12);
    // A class never predicted and never present: zeros, not NaN.
    assert.equal(evaluate([0], [0], ['a', 'b']).metrics['precision.b'], 0);
  });
});
