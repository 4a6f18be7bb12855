// The benchmark's objects: key layout (big object, flat directory, tree), the data pattern
// (1 MiB blocks, each starting with its block number so reads can be checked cheaply), and
// population / clean-up straight through the SDK with many requests in flight.
import { DeleteObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { listPages } from '../../src/s3/list.js';
import type { BenchOptions } from './options.js';
import { MiB } from '../../src/util/units.js';

export const BIG_KEY = 'data/big.bin';
export const LIST_DIR = 'list';
export const TREE_DIR = 'tree';
export const FILES_PER_LEAF = 100;
export const LEAVES_PER_TOP = 10;

const base = randomFillSync(Buffer.alloc(MiB));

/** Block `i` of the data pattern: random bytes with the block number in the first 8 bytes. */
export function block(i: number, into: Buffer = Buffer.allocUnsafe(MiB)): Buffer {
  base.copy(into);
  into.writeBigUInt64BE(BigInt(i), 0);
  return into;
}

/**
 * Checks a byte stream of the data pattern chunk by chunk (any chunk sizes): the 8 bytes at every
 * MiB boundary must hold that block's number. Cheap enough not to slow a GiB/s reader.
 */
export class BlockChecker {
  private pos = 0;
  private header: number[] = [];
  mismatches = 0;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      const inBlock = this.pos % MiB;
      if (inBlock < 8) {
        this.header.push(chunk[i]!);
        i++;
        this.pos++;
        if (this.header.length === 8) {
          const n = Buffer.from(this.header).readBigUInt64BE(0);
          if (n !== BigInt(Math.floor((this.pos - 1) / MiB))) this.mismatches++;
          this.header = [];
        }
      } else {
        const skip = Math.min(chunk.length - i, MiB - inBlock);
        i += skip;
        this.pos += skip;
      }
    }
  }

  get bytes(): number {
    return this.pos;
  }
}

/** A stream of `sizeMiB` pattern blocks (allocates one buffer per block: the SDK may keep them). */
export function patternStream(sizeMiB: number): Readable {
  let i = 0;
  return new Readable({
    highWaterMark: 4 * MiB,
    read() {
      if (i >= sizeMiB) this.push(null);
      else this.push(block(i++));
    },
  });
}

export function listKey(i: number): string {
  return `${LIST_DIR}/f${String(i).padStart(6, '0')}`;
}

export function treeKey(i: number): string {
  const leaf = Math.floor(i / FILES_PER_LEAF);
  const top = Math.floor(leaf / LEAVES_PER_TOP);
  return `${TREE_DIR}/t${String(top).padStart(3, '0')}/l${String(leaf).padStart(4, '0')}/f${String(i % FILES_PER_LEAF).padStart(3, '0')}`;
}

/** Directories `find` reports for the tree (including the tree root itself). */
export function treeDirCount(treeCount: number): number {
  const leaves = Math.ceil(treeCount / FILES_PER_LEAF);
  return 1 + Math.ceil(leaves / LEAVES_PER_TOP) + leaves;
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

export async function putSmall(
  client: S3Client,
  bucket: string,
  keys: string[],
  size: number,
  width = 32,
): Promise<void> {
  const body = randomFillSync(Buffer.alloc(size));
  await pool(keys, width, async (Key) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
  });
}

export async function uploadBig(
  client: S3Client,
  bucket: string,
  key: string,
  sizeMiB: number,
  partSizeMiB: number,
  queueSize: number,
): Promise<void> {
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: patternStream(sizeMiB) },
    partSize: partSizeMiB * MiB,
    queueSize,
  }).done();
}

/** Create every object the read and metadata workloads need. */
export async function populate(
  client: S3Client,
  bucket: string,
  o: BenchOptions,
  log: (m: string) => void,
): Promise<void> {
  log(`populate: ${BIG_KEY} (${o.sizeMiB} MiB)`);
  await uploadBig(client, bucket, BIG_KEY, o.sizeMiB, 16, 8);
  log(`populate: ${o.listCount} objects under ${LIST_DIR}/, ${o.treeCount} under ${TREE_DIR}/`);
  await putSmall(
    client,
    bucket,
    Array.from({ length: o.listCount }, (_v, i) => listKey(i)),
    1024,
  );
  await putSmall(
    client,
    bucket,
    Array.from({ length: o.treeCount }, (_v, i) => treeKey(i)),
    1024,
  );
}

/** Delete every object under `prefix` (ListObjectsV2 + DeleteObjects in batches of 1000). */
export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<number> {
  let n = 0;
  for await (const page of listPages(client, { bucket, prefix })) {
    const objs = page.contents.map((c) => ({ Key: c.key }));
    if (objs.length)
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objs, Quiet: true } }));
    n += objs.length;
  }
  return n;
}
