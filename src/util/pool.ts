// A bounded worker pool: run an async function over a list with at most `limit` calls in
// flight. After the first failure no further item starts; the calls already running are
// awaited (so no work lands after the pool returns) and then the first failure is thrown.

/**
 * `f` over every item, at most `limit` at a time; the results in input order.
 * Throws the first failure once every started call has settled.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  f: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await f(items[i]!, i);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  const width = Math.max(1, Math.min(Math.floor(limit), items.length));
  await Promise.all(Array.from({ length: width }, worker));
  if (failed) throw failure;
  return out;
}
