// Unit tests (pure logic) for S3 error → errno mapping used by every FUSE operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno, FsError, toErrno } from '../../src/fs/errno.js';

const s3err = (name: string, status: number): Error =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

test('S3 errors map to precise errno values', () => {
  assert.equal(toErrno(s3err('NoSuchKey', 404)), Errno.ENOENT);
  assert.equal(toErrno(s3err('NotFound', 404)), Errno.ENOENT);
  assert.equal(toErrno(s3err('AccessDenied', 403)), Errno.EACCES);
  assert.equal(toErrno(s3err('Forbidden', 403)), Errno.EACCES);
  assert.equal(toErrno(s3err('InvalidAccessKeyId', 403)), Errno.EACCES);
  assert.equal(toErrno(s3err('InternalError', 500)), Errno.EIO);
  assert.equal(toErrno(s3err('SlowDown', 503)), Errno.EIO);
  assert.equal(toErrno(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), Errno.EIO);
});

test('our own conditions keep their errno; a full spool disk is ENOSPC', () => {
  assert.equal(toErrno(new FsError(Errno.ENOTEMPTY, 'x')), Errno.ENOTEMPTY);
  assert.equal(toErrno(new FsError(Errno.EROFS, 'x')), Errno.EROFS);
  assert.equal(toErrno(Object.assign(new Error('full'), { code: 'ENOSPC' })), Errno.ENOSPC);
});
