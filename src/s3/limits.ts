// S3 protocol limits on objects, multipart uploads and server-side copies (the same on AWS and
// the S3-compatible servers the project supports).
import { MiB } from '../util/units.js';

/** Parts of one multipart upload, at most. */
export const MAX_PARTS = 10_000;
/** Smallest part of a multipart upload (all but the last part). */
export const MIN_PART_SIZE = 5 * MiB;
/** Largest part of a multipart upload, uploaded or copied (UploadPartCopy range). */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** Largest object one CopyObject copies; bigger ones are copied part by part. */
export const MAX_COPY_SIZE = 5 * 1024 * MiB;
/** Largest object. */
export const MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB;
