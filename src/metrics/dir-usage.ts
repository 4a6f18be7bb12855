// Disk space used by the files directly in one directory (allocated blocks, so sparse staging
// files count what they really occupy): the mount's spool gauge, measured when scraped.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function dirUsageBytes(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of names) {
    try {
      const st = await lstat(join(dir, name));
      if (st.isFile()) total += st.blocks * 512;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}
