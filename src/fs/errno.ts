// Maps S3/SDK errors and our own file-system conditions to negative errno values for FUSE.
// ENOENT, EEXIST, ENOTEMPTY, EROFS, EACCES (403), EIO (after the SDK's retries gave up).
import { classifyS3Error } from '../s3/errors.js';

export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EINTR: -4,
  EIO: -5,
  EBADF: -9,
  EACCES: -13,
  EBUSY: -16,
  EEXIST: -17,
  EXDEV: -18,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  EFBIG: -27,
  ENOSPC: -28,
  EROFS: -30,
  ENAMETOOLONG: -36,
  ENOSYS: -38,
  ENOTEMPTY: -39,
  ENODATA: -61,
  ENOTSUP: -95,
  ESTALE: -116,
} as const;

/** An error that already carries the errno the caller should see. */
export class FsError extends Error {
  override name = 'FsError';
  constructor(
    readonly errno: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Negative errno for any error thrown inside a FUSE op. */
export function toErrno(err: unknown): number {
  if (err instanceof FsError) return err.errno;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC') return Errno.ENOSPC;
  if (code === 'ENOENT' && !(err as { $metadata?: unknown }).$metadata) return Errno.EIO; // local spool file vanished
  switch (classifyS3Error(err)) {
    case 'not-found':
    case 'no-such-bucket':
      return Errno.ENOENT;
    case 'access-denied':
    case 'unauthenticated':
      return Errno.EACCES;
    case 'already-exists':
      return Errno.EEXIST;
    case 'not-empty':
      return Errno.ENOTEMPTY;
    case 'invalid':
      return Errno.EINVAL;
    default:
      return Errno.EIO;
  }
}
