// The node plugin's stop path (ProcessMounter.dropShare) waits longer for a --write-back mount
// to drain its pending uploads after SIGTERM than for a default mount (docs/write-back.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WRITE_BACK_STOP_MS, stopWaitMs } from '../../src/mounter/process-mounter.js';

test('a write-back share gets at least WRITE_BACK_STOP_MS after SIGTERM; others the unmount timeout', () => {
  assert.equal(stopWaitMs({}, 60_000), 60_000);
  assert.equal(stopWaitMs({ writeBack: false }, 60_000), 60_000);
  assert.equal(stopWaitMs({ writeBack: true }, 60_000), WRITE_BACK_STOP_MS);
  assert.ok(WRITE_BACK_STOP_MS >= 10 * 60_000);
  assert.equal(
    stopWaitMs({ writeBack: true }, WRITE_BACK_STOP_MS * 2),
    WRITE_BACK_STOP_MS * 2,
    'a longer node timeout wins',
  );
});
