// Exit codes of the mount process, so the CSI node can turn a failed mount into the right
// gRPC status without parsing log text. The mount process also prints one line
// `bucketmount: error: <message>` to stderr (and its log file) before exiting.
export const MountExit = {
  OK: 0,
  /** Unexpected failure. → INTERNAL */
  INTERNAL: 1,
  /** Bad flags or source. → INVALID_ARGUMENT */
  BAD_ARGS: 2,
  /** Credentials rejected (InvalidAccessKeyId, SignatureDoesNotMatch, expired token). → UNAUTHENTICATED */
  UNAUTHENTICATED: 3,
  /** Credentials valid but access denied (403). → PERMISSION_DENIED */
  PERMISSION_DENIED: 4,
  /** Bucket does not exist. → NOT_FOUND */
  NO_SUCH_BUCKET: 5,
  /** S3 endpoint unreachable / timing out. → UNAVAILABLE */
  UNAVAILABLE: 6,
  /** FUSE mount itself failed (mount point busy, no /dev/fuse). → INTERNAL */
  FUSE_FAILED: 7,
} as const;

export type MountExitCode = (typeof MountExit)[keyof typeof MountExit];

/** Map a mount process's exit code to the kind of MountError the CSI node reports. */
export function exitCodeToErrorKind(
  code: number | null,
): 'invalid-argument' | 'unauthenticated' | 'permission-denied' | 'not-found' | 'unavailable' | 'internal' {
  switch (code) {
    case MountExit.BAD_ARGS:
      return 'invalid-argument';
    case MountExit.UNAUTHENTICATED:
      return 'unauthenticated';
    case MountExit.PERMISSION_DENIED:
      return 'permission-denied';
    case MountExit.NO_SUCH_BUCKET:
      return 'not-found';
    case MountExit.UNAVAILABLE:
      return 'unavailable';
    default:
      return 'internal';
  }
}
