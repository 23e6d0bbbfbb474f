import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrainedLedger } from '../../../src/stages/student/trained_ledger.ts';

const at = (partition: number, offset: number) => ({ topic: 's', partition, offset });

test('first uses count once a checkpoint offset passes them; those above wait; the total carries over runs', () => {
  const ledger = new TrainedLedger(10);
  ledger.firstUses([at(0, 3), at(0, 5), at(1, 0), at(0, 4)]);
  assert.equal(ledger.checkpointed({ 's:0': '5', 's:1': '0' }), 12, 'offsets 3 and 4 of partition 0');
  assert.equal(ledger.checkpointed({ 's:0': '5', 's:1': '0' }), 12, 'nothing counted twice');
  ledger.firstUses([at(1, 1)]);
  assert.equal(ledger.checkpointed({ 's:0': '6', 's:1': '2' }), 15);
  assert.equal(ledger.covered, 15);
  // A partition the checkpoint does not name keeps its first uses pending.
  ledger.firstUses([at(2, 0)]);
  assert.equal(ledger.checkpointed({ 's:0': '6' }), 15);
});
