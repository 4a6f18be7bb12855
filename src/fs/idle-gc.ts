// One garbage collection when the mount's data path goes idle (buffer-pool.ts calls it once its
// pool has been unused for POOL_IDLE_MS). Socket chunks of the last GETs and dropped buffers
// are only freed by a collection, and V8 collects only when JS allocates: a mount at rest would
// keep tens of MiB of such garbage (docs/fuse3.md "Memory"). `gc` is exposed at run time via
// v8.setFlagsFromString (Node's documented way; no --expose-gc on the command line); a full
// collection of the mount's ~20 MiB heap takes milliseconds and happens once per busy period.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFn = () => void;

let gcFn: GcFn | null | undefined;

function gcFunction(): GcFn | null {
  if (gcFn !== undefined) return gcFn;
  const existing = (globalThis as { gc?: GcFn }).gc;
  if (existing) return (gcFn = existing);
  try {
    setFlagsFromString('--expose-gc');
    gcFn = (runInNewContext('gc') as GcFn | undefined) ?? null;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/**
 * Collect garbage once, synchronously (a full collection; the asynchronous mode of `gc` did not
 * free anything within 500 ms of an idle process when tried); a no-op where gc cannot be had.
 */
export function collectIdleGarbage(): void {
  try {
    gcFunction()?.();
  } catch {
    /* best effort */
  }
}
