// Part sizes of a streamed multipart upload whose final size is unknown while it is written:
// the first PARTS_PER_STEP parts have the configured --part-size, then the size doubles every
// PARTS_PER_STEP parts, capped at S3's 5 GiB. With any --part-size from 5 MiB, 10,000 parts
// reach S3's 5 TiB object limit (checked by test/unit/fs-part-schedule.test.ts). Also the
// memory rules: parts up to MEMORY_PART_MAX (or --part-size, if larger) are buffered in memory,
// bigger ones are spooled to a file; parts in flight per upload are bounded by count and bytes.
import { MAX_PART_SIZE, MAX_PARTS } from '../s3/limits.js';
import { MiB } from '../util/units.js';

export interface PartSchedule {
  /** The size doubles after this many parts. */
  partsPerStep: number;
  /** Largest part buffered in memory (at least the base part size); bigger parts are spooled to disk. */
  memoryPartMax: number;
  /** Bytes of parts in flight per upload (at least one part is always allowed). */
  inflightBytes: number;
}

export const DEFAULT_SCHEDULE: PartSchedule = {
  partsPerStep: 800,
  memoryPartMax: 32 * MiB,
  inflightBytes: 64 * MiB,
};

/** Size of part `partNumber` (1-based) of an upload whose first parts are `base` bytes. */
export function partSizeFor(partNumber: number, base: number, schedule: PartSchedule = DEFAULT_SCHEDULE): number {
  const step = Math.floor((partNumber - 1) / schedule.partsPerStep);
  return Math.min(MAX_PART_SIZE, base * 2 ** Math.min(step, 30));
}

/** Largest object that MAX_PARTS parts of this schedule hold. */
export function scheduleCapacity(base: number, schedule: PartSchedule = DEFAULT_SCHEDULE): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n++) total += partSizeFor(n, base, schedule);
  return total;
}

/** True when a part of `size` bytes is spooled to disk rather than held in memory. */
export function spoolsPart(size: number, base: number, schedule: PartSchedule = DEFAULT_SCHEDULE): boolean {
  return size > Math.max(base, schedule.memoryPartMax);
}

/** Byte bound of the parts in flight of one upload (never below four base-size parts). */
export function inflightLimit(base: number, schedule: PartSchedule = DEFAULT_SCHEDULE): number {
  return Math.max(schedule.inflightBytes, 4 * base);
}
