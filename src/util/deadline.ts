// Waiting for work with a time limit: the first of the work's outcome and, after `ms`, what
// `late()` gives (or throws). The work itself is not stopped (a blocked system call cannot be);
// the timer is cleared once either settles, so it keeps the process alive for at most `ms`.
export function settleWithin<T, L>(work: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err as Error);
      }
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
