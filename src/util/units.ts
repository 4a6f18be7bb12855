// Byte units used across the project (sizes of parts, buffers, caches and options).

/** 1 MiB = 1,048,576 bytes. */
export const MiB = 1024 * 1024;
