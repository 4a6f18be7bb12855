// Everything an FS component needs to talk to S3 for this mount: the client, bucket, key
// prefix, per-request options (requester pays, storage class) and the mount configuration.
import type { S3Client, StorageClass } from '@aws-sdk/client-s3';
import type { Logger } from '../log.js';
import type { MountConfig } from '../mount-contract/args.js';
import type { MountMetrics } from '../metrics/mount-metrics.js';
import type { UploadJournal } from './upload-journal.js';

export interface FsContext {
  s3: S3Client;
  bucket: string;
  /** '' or ends with '/'. */
  prefix: string;
  cfg: MountConfig;
  log: Logger;
  /** Directory for staging files (created at start-up). */
  spoolDir: string;
  /** Records started multipart uploads so a crashed mount's are aborted at the next start (--upload-journal). */
  journal?: UploadJournal;
  /** The mount's metrics (absent or NO_METRICS without --metrics-socket). */
  metrics?: MountMetrics;
}

/** Extra fields for every request (requester-pays buckets). */
export function payer(ctx: FsContext): { RequestPayer?: 'requester' } {
  return ctx.cfg.requesterPays ? { RequestPayer: 'requester' } : {};
}

/** Extra fields for requests that create objects. */
export function createFields(ctx: FsContext): { RequestPayer?: 'requester'; StorageClass?: StorageClass } {
  const f: { RequestPayer?: 'requester'; StorageClass?: StorageClass } = { ...payer(ctx) };
  if (ctx.cfg.storageClass) f.StorageClass = ctx.cfg.storageClass as StorageClass;
  return f;
}
