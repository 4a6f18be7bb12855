// Test entry point for the local MinIO launcher (the implementation lives in src/dev so the
// demo command can use it too).
export { startMinio, freePort, findMinioBinary } from '../../src/dev/local-minio.js';
export type { MinioServer, StartMinioOptions } from '../../src/dev/local-minio.js';
