import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JoinWindows, SessionWindows, SlidingWindows, TimeWindows, TopologyError } from './index.js';

describe('TimeWindows', () => {
  it('assigns a timestamp to its tumbling window [start, end)', () => {
    const w = TimeWindows.ofSize(10);
    assert.deepEqual(w.windowsFor(0), [{ start: 0, end: 10 }]);
    assert.deepEqual(w.windowsFor(9), [{ start: 0, end: 10 }]);
    assert.deepEqual(w.windowsFor(10), [{ start: 10, end: 20 }]);
    assert.equal(w.closesAt({ start: 10, end: 20 }), 20);
    assert.equal(w.grace(5).closesAt({ start: 10, end: 20 }), 25);
  });

  it('assigns a timestamp to every hopping window containing it, none starting before 0', () => {
    const w = TimeWindows.ofSize(10).advanceBy(3);
    assert.deepEqual(w.windowsFor(12), [
      { start: 3, end: 13 },
      { start: 6, end: 16 },
      { start: 9, end: 19 },
      { start: 12, end: 22 },
    ]);
    assert.deepEqual(w.windowsFor(4), [
      { start: 0, end: 10 },
      { start: 3, end: 13 },
    ]);
    assert.equal(w.toString(), 'HoppingWindows(size=10ms, advance=3ms, grace=0ms)');
  });

  it('refuses sizes, advances and graces that make no sense', () => {
    assert.throws(() => TimeWindows.ofSize(0), TopologyError);
    assert.throws(() => TimeWindows.ofSize(10).advanceBy(11), /must not exceed the size/);
    assert.throws(() => TimeWindows.ofSize(10).grace(-1), /grace must be an integer >= 0 ms/);
    assert.throws(() => TimeWindows.ofSize(1.5), TopologyError);
  });
});

describe('SlidingWindows', () => {
  it('has left and right windows, inclusive at both ends, and closes after end + grace', () => {
    const w = SlidingWindows.ofTimeDifference(10).grace(3);
    assert.deepEqual(w.leftWindow(50), { start: 40, end: 50 });
    assert.deepEqual(w.rightWindow(50), { start: 51, end: 61 });
    assert.equal(w.closesAt({ start: 40, end: 50 }), 54);
    assert.equal(w.isLate(50, 53), false);
    assert.equal(w.isLate(50, 54), true);
  });

  it('defines a window per distinct record set (KIP-450)', () => {
    const w = SlidingWindows.ofTimeDifference(10);
    assert.deepEqual(w.windowsFor([]), []);
    assert.deepEqual(w.windowsFor([5, 5]), [{ start: -5, end: 5 }]);
    assert.deepEqual(w.windowsFor([0, 11, 30]), [
      { start: -10, end: 0 },
      { start: 1, end: 11 },
      { start: 20, end: 30 },
    ]);
  });
});

describe('SessionWindows', () => {
  it('groups timestamps closer than the gap into [first, last] sessions', () => {
    const w = SessionWindows.withInactivityGap(5).grace(2);
    assert.deepEqual(w.sessionsFor([20, 1, 6, 12, 30, 25]), [
      { start: 1, end: 6 },
      { start: 12, end: 12 },
      { start: 20, end: 30 },
    ]);
    assert.equal(w.merges({ start: 10, end: 20 }, 25), true);
    assert.equal(w.merges({ start: 10, end: 20 }, 26), false);
    assert.equal(w.merges({ start: 10, end: 20 }, 5), true);
    assert.equal(w.closesAt({ start: 10, end: 20 }), 28);
  });
});

describe('JoinWindows', () => {
  it('joins timestamps at most d apart; a record closes d + grace after its timestamp', () => {
    const w = JoinWindows.ofTimeDifference(10).grace(5);
    assert.deepEqual(w.windowFor(100), { start: 90, end: 110 });
    assert.equal(w.closesAt(100), 116);
    assert.equal(w.isLate(100, 105), false);
    assert.equal(w.isLate(100, 106), true);
  });
});
