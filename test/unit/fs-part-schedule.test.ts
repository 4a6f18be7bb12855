// Unit tests (pure logic) for the growing part-size schedule of streamed uploads: 10,000 parts
// hold S3's 5 TiB limit for every allowed --part-size, every part is within S3's 5 MiB..5 GiB,
// the first parts are exactly --part-size, and which parts are spooled to disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SCHEDULE,
  inflightLimit,
  partSizeFor,
  scheduleCapacity,
  spoolsPart,
} from '../../src/fs/part-schedule.js';
import { MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from '../../src/s3/limits.js';
import { MiB } from '../../src/util/units.js';

const GiB = 1024 * MiB;

test('10,000 parts reach 5 TiB for every --part-size (5..5120 MiB); every part is within 5 MiB..5 GiB', () => {
  for (const mib of [5, 6, 7, 8, 16, 64, 100, 512, 1000, 5120]) {
    const base = mib * MiB;
    let total = 0;
    let prev = 0;
    for (let n = 1; n <= MAX_PARTS; n++) {
      const size = partSizeFor(n, base);
      assert.ok(size >= MIN_PART_SIZE && size <= MAX_PART_SIZE, `part ${n} of --part-size ${mib}: ${size}`);
      assert.ok(size >= prev, 'sizes never shrink');
      prev = size;
      total += size;
    }
    assert.ok(total >= MAX_OBJECT_SIZE, `--part-size ${mib}: ${total / GiB} GiB`);
    assert.equal(scheduleCapacity(base), total);
  }
});

test('the first parts are exactly --part-size (files up to 800 parts upload as before)', () => {
  for (const mib of [5, 8, 100]) {
    for (let n = 1; n <= DEFAULT_SCHEDULE.partsPerStep; n++) assert.equal(partSizeFor(n, mib * MiB), mib * MiB);
    assert.equal(partSizeFor(DEFAULT_SCHEDULE.partsPerStep + 1, mib * MiB), 2 * mib * MiB);
  }
  // the default 8 MiB keeps its parts for the first 6.25 GiB (was the whole 78 GiB limit before)
  assert.equal(DEFAULT_SCHEDULE.partsPerStep * 8 * MiB, 6.25 * GiB);
});

test('memory bound: parts above max(--part-size, 32 MiB) are spooled; in-flight bytes per upload are bounded', () => {
  const base = 8 * MiB;
  assert.ok(!spoolsPart(partSizeFor(1, base), base));
  assert.ok(!spoolsPart(32 * MiB, base));
  assert.ok(spoolsPart(64 * MiB, base));
  assert.ok(spoolsPart(MAX_PART_SIZE, base));
  // a --part-size above 32 MiB stays in memory, as the user asked
  assert.ok(!spoolsPart(100 * MiB, 100 * MiB));
  assert.equal(inflightLimit(base), 64 * MiB);
  assert.equal(inflightLimit(100 * MiB), 400 * MiB);
});
