// Test helper: drive code that sleeps with setTimeout (backoff between retries, resumed bodies)
// on node:test's mock timers, so a test that goes through several seconds of backoff takes
// milliseconds and never depends on real time. `useFakeClock` mocks setTimeout and Date (from a
// fixed epoch) for the rest of the test; `settle` lets I/O run and advances the clock in steps
// until the promise settles.
import { mock, type TestContext } from 'node:test';

export const FAKE_EPOCH = 1_800_000_000_000;

export function useFakeClock(t: TestContext): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: FAKE_EPOCH });
  t.after(() => mock.timers.reset());
}

/** Let pending I/O and microtasks run (setImmediate is not mocked). */
export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Advance the fake clock by `stepMs` between turns of the event loop until `p` settles (at most `maxSteps` steps). */
export async function settle<T>(p: Promise<T>, stepMs = 100, maxSteps = 10_000): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  watched.catch(() => undefined);
  for (let i = 0; i < maxSteps && !done; i++) {
    await turn();
    await turn();
    if (!done) mock.timers.tick(stepMs);
  }
  return watched;
}
