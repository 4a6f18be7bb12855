// Pure path ↔ S3 key mapping: FUSE paths ("/a/b") to object keys under the mount prefix,
// directory prefixes ("a/b/"), and which key names are hidden because they cannot be a file
// name (empty from "//", ".", "..", NUL, or too long).

/** Object key of the file at `path` ("/a/b" → prefix + "a/b"). */
export function fileKey(prefix: string, path: string): string {
  return prefix + path.replace(/^\/+/, '');
}

/** Key prefix of the directory at `path` ("/a" → prefix + "a/", "/" → prefix). */
export function dirPrefix(prefix: string, path: string): string {
  const rel = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return rel === '' ? prefix : `${prefix}${rel}/`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True when a key segment cannot be shown as a directory entry. */
export function isHiddenName(name: string): boolean {
  return name === '' || name === '.' || name === '..' || name.includes('\0') || Buffer.byteLength(name) > 255;
}

/** True when `path` is the root or lies inside `dir` (both FUSE paths). */
export function isInside(dir: string, path: string): boolean {
  if (dir === '/') return true;
  return path === dir || path.startsWith(dir + '/');
}
