import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assignUnits, type MemberTasks } from './copartitionedAssigner.js';

const none: MemberTasks = { active: [], standby: [] };
const units = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('assignUnits', () => {
  it('spreads units evenly over new members, standbys never beside their active copy', () => {
    const placed = assignUnits(
      ['c', 'a', 'b'].map((memberId) => ({ memberId, tasks: none })),
      units(6),
      1,
    );
    assert.deepEqual(Object.fromEntries(placed), {
      a: { active: [0, 3], standby: [1, 2] },
      b: { active: [1, 4], standby: [0, 5] },
      c: { active: [2, 5], standby: [3, 4] },
    });
  });

  it('keeps active units with their owner and moves a lost member’s units to their standbys', () => {
    // b left; a held standbys of b's units 1 and 4, c of nothing of b's.
    const placed = assignUnits(
      [
        { memberId: 'a', tasks: { active: [0, 3], standby: [1, 4] } },
        { memberId: 'c', tasks: { active: [2, 5], standby: [0, 3] } },
      ],
      units(6),
      1,
    );
    assert.deepEqual(placed.get('a')!.active, [0, 1, 3]);
    assert.deepEqual(placed.get('c')!.active, [2, 4, 5]);
    for (const [id, a] of placed) {
      for (const u of a.standby) assert.ok(!a.active.includes(u), `${id} has ${u} twice`);
    }
  });

  it('gives no standbys to a lone member, and caps standbys at members - 1', () => {
    assert.deepEqual(assignUnits([{ memberId: 'a', tasks: none }], units(3), 2).get('a'), {
      active: [0, 1, 2],
      standby: [],
    });
    const two = assignUnits(
      ['a', 'b'].map((memberId) => ({ memberId, tasks: none })),
      units(2),
      3,
    );
    assert.deepEqual(two.get('a'), { active: [0], standby: [1] });
    assert.deepEqual(two.get('b'), { active: [1], standby: [0] });
  });

  it('property: every unit active exactly once, balanced, with min(standbys, members-1) distinct standbys', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.nat(5), fc.nat(30), fc.boolean()), { maxLength: 40 }),
        (memberCount, unitCount, standbys, previous) => {
          const ids = Array.from({ length: memberCount }, (_, i) => `m${i}`);
          const members = ids.map((memberId) => ({
            memberId,
            tasks: { active: [] as number[], standby: [] as number[] },
          }));
          for (const [m, u, active] of previous) {
            const member = members[m % memberCount]!;
            (active ? member.tasks.active : member.tasks.standby).push(u);
          }
          const placed = assignUnits(members, units(unitCount), standbys);
          const actives = [...placed.values()].flatMap((a) => a.active).sort((x, y) => x - y);
          assert.deepEqual(actives, units(unitCount));
          const cap = Math.ceil(unitCount / memberCount);
          for (const a of placed.values()) assert.ok(a.active.length <= cap);
          const replicas = Math.min(standbys, memberCount - 1);
          for (const u of units(unitCount)) {
            const holders = [...placed].filter(([, a]) => a.standby.includes(u)).map(([id]) => id);
            assert.equal(holders.length, replicas, `unit ${u}`);
            const owner = [...placed].find(([, a]) => a.active.includes(u))![0];
            assert.ok(!holders.includes(owner));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
