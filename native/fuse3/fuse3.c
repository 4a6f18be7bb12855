// bucketmount's FUSE transport: a thin Node-API binding of libfuse3's LOW-LEVEL session API.
//
// It only moves requests and replies; every file-system decision is made in TypeScript
// (src/fs/kernel/). One native reader thread takes requests off the session
// (fuse_session_receive_buf + fuse_session_process_buf); each libfuse callback copies its
// arguments into a message and queues it to JS with a thread-safe function, then returns at once.
// On the JS thread a request gets a small integer id (slot table, touched only by the JS thread);
// JS answers later, asynchronously, with one of the reply*(session, id, ...) functions, which
// call fuse_reply_* (thread-safe in libfuse) and free the slot. No thread waits for a reply.
// FORGET needs no reply: it is answered here and only reported to JS.
//
// JS API (see src/fs/kernel/native.ts for the typed wrapper):
//   open(mountpoint, mountOptions: string, init: {maxWrite, maxReadahead, maxBackground,
//        congestionThreshold, writebackCache, timeGranNs}, handler) -> session
//     handler(op, id, ino, a1, a2, a3, name, name2, data) is called once per request.
//   unmount(session), destroy(session), fd(session)
//   replyErr, replyEntry, replyCreate, replyAttr, replyOpen, replyWrite, replyBuf,
//   replyReadlink, replyStatfs, replyDir, pending, sessions
//
// Interrupts (FUSE_INTERRUPT): when JS takes a request, call_js registers a libfuse interrupt
// callback for it (fuse_req_interrupt_func) whose data is the request's slot id and the slot's
// generation packed into the pointer value (nothing allocated, nothing to free). libfuse runs the
// callback on the reader thread when the kernel interrupts the request (or at once, on the JS
// thread, if the interrupt came before the registration), holding the request alive meanwhile;
// the callback only queues an OP_INTERRUPT message. call_js hands it to JS only while that slot
// still holds the same request (same generation): an interrupt of a request JS already answered
// is dropped, so the id JS sees always names a request it still owns. JS decides what to do
// (reply EINTR or let it finish); libfuse forgets the callback when the request is answered.
//
// The fd hand-off (docs/fuse3.md, "Mounts that survive their server"):
//   mountFd(fd, mountpoint, source, kernelOptions, readOnly): mount(2) with `fd=N` on an open
//     /dev/fuse descriptor (the supervisor keeps its own duplicate of it).
//   open(..., handler, { fd, resumeInit? }) serves an already-mounted fd through
//     fuse_session_custom_io. The first server reports the kernel's raw FUSE_INIT request to JS
//     (OP_INITED, data = the bytes) so it can be saved; a successor passes those bytes back as
//     `resumeInit`: our read() hands libfuse that INIT once (libfuse refuses requests before one)
//     and our writev() swallows libfuse's reply to it, so the kernel never sees a second INIT.
//   notifyResend(session): FUSE_NOTIFY_RESEND, the kernel queues again every request that was
//     read and never answered (by the dead predecessor). Returns 0 or -errno.
//   With { inflightPath } the `unique` of every request read and not yet answered is kept in a
//   shared file (a small hash table, 8192 slots); a successor takes its predecessor's over and
//   failStale(session) answers each with EIO: the fallback for kernels without resend (< 6.9).
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <node_api.h>
#include "napi-args.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <stdio.h>
#include <unistd.h>

// Operation codes shared with src/fs/kernel/native.ts (keep in sync).
enum {
  OP_CLOSED = 0, OP_LOOKUP, OP_FORGET, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR,
  OP_UNLINK, OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH, OP_RELEASE,
  OP_FSYNC, OP_OPENDIR, OP_READDIR, OP_RELEASEDIR, OP_FSYNCDIR, OP_STATFS, OP_ACCESS, OP_CREATE,
  OP_READDIRPLUS, OP_LINK, OP_INITED, OP_INTERRUPT
};

// Attribute arrays (Float64Array) exchanged with JS: this many doubles per node.
enum { A_INO, A_MODE, A_NLINK, A_UID, A_GID, A_SIZE, A_BLOCKS, A_BLKSIZE, A_ATIME, A_MTIME, A_CTIME, A_COUNT };
// Open-reply flag bits.
enum { OPEN_DIRECT_IO = 1, OPEN_KEEP_CACHE = 2, OPEN_CACHE_READDIR = 4, OPEN_NONSEEKABLE = 8 };

typedef struct msg {
  int op;
  fuse_req_t req;
  double ino, a1, a2, a3;
  char *name, *name2;
  char *data;  // WRITE payload (malloc'd copy, handed to JS as an external buffer)
  size_t datalen;
  int slot;    // WRITE payload in payload-arena slot `slot` instead (-1: none; see payload_take)
  double setattr[6];  // size, atimeMs, mtimeMs, mode, uid, gid (SETATTR)
} msg_t;

/**
 * WRITE payloads without a fresh buffer per request: a few max_write-sized slots that JS sees
 * through one long-lived Buffer (payloadArena), so writing does not allocate (and the GC does not
 * collect) a 1 MiB buffer per request. Freed when the session and every such Buffer let go of it
 * (JS thread only).
 */
typedef struct arena {
  char *mem;
  size_t slot_size;
  uint32_t nslots;
  int refs;
} arena_t;

typedef struct session {
  struct fuse_session *se;
  pthread_t thread;
  int thread_started;
  int destroyed;
  napi_threadsafe_function tsfn;
  napi_ref handler;
  // init parameters, applied in the INIT callback on the reader thread
  unsigned max_write, max_readahead, max_background, congestion_threshold, time_gran;
  int writeback;
  // request slots (JS thread only)
  fuse_req_t *slots;
  uint32_t nslots, *freelist, nfree, pending;
  uint32_t *gens;  // per slot, bumped each time the slot takes a request (interrupt matching)
  // fd hand-off (custom io): the kernel's INIT seen / a synthetic INIT still to hand to libfuse
  int fd_mode, init_seen;
  char *synth;
  size_t synth_len;
  // Unanswered requests (fd mode): `unique`s in a shared 0600 file, so a successor on a kernel
  // without FUSE_NOTIFY_RESEND can answer its predecessor's with EIO (failStale).
  uint64_t *ring;
  uint64_t *stale;
  size_t nstale;
  // Owners of this struct (JS thread only): the JS handle and, once created, the thread-safe
  // function. The last one to let go frees it (session_unref).
  int refs;
  // WRITE payload slots (NULL: off): a bit per free slot, taken on the reader thread and given
  // back on the JS thread when the request holding it is answered, so under a lock.
  arena_t *arena;
  uint32_t arena_free;
  pthread_mutex_t arena_lock;
  int8_t *payload_of;  // per request id: the payload slot its WRITE holds, or -1 (JS thread only)
} session_t;

/** Sessions allocated and not yet freed (reported by sessions(), for the memory test). */
static uint32_t live_sessions;

enum { RING_SLOTS = 8192 };

// The kernel's request and reply headers (linux/fuse.h; not installed by libfuse3-dev).
struct k_in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid; uint16_t total_extlen, padding; };
struct k_out_header { uint32_t len; int32_t error; uint64_t unique; };
enum { K_FUSE_INIT = 26, K_NOTIFY_RESEND = 7, K_FORGET = 2, K_INTERRUPT = 36, K_NOTIFY_REPLY = 41, K_BATCH_FORGET = 42 };
/** `unique` of the synthetic INIT: bit 63 set and far above anything the kernel hands out. */
static const uint64_t SYNTH_UNIQUE = 0xfffffffffffffff0ull;

// ---- reader thread side --------------------------------------------------------------------

static session_t *sess_of(fuse_req_t req) { return (session_t *)fuse_req_userdata(req); }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/** A free payload slot for `size` bytes, or -1 (no arena, too big, or all in use: then malloc). */
static int payload_take(session_t *s, size_t size) {
  if (!s->arena || size > s->arena->slot_size) return -1;
  pthread_mutex_lock(&s->arena_lock);
  int i = s->arena_free ? __builtin_ctz(s->arena_free) : -1;
  if (i >= 0) s->arena_free &= ~(1u << i);
  pthread_mutex_unlock(&s->arena_lock);
  return i;
}

/** Give slot `i` back. */
static void payload_give(session_t *s, int i) {
  if (!s->arena || i < 0 || (uint32_t)i >= s->arena->nslots) return;
  pthread_mutex_lock(&s->arena_lock);
  s->arena_free |= 1u << i;
  pthread_mutex_unlock(&s->arena_lock);
}

/** Free a message that will not reach JS (its payload slot goes back). */
static void msg_drop(session_t *s, msg_t *m) {
  if (m->slot >= 0) payload_give(s, m->slot);
  free(m->name); free(m->name2); free(m->data); free(m);
}

static void post(session_t *s, msg_t *m) {
  if (napi_call_threadsafe_function(s->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
    if (m->req) fuse_reply_err(m->req, EIO);
    msg_drop(s, m);
  }
}

static msg_t *new_msg(int op, fuse_req_t req, fuse_ino_t ino) {
  msg_t *m = calloc(1, sizeof *m);
  if (!m) { if (req) fuse_reply_err(req, ENOMEM); return NULL; }
  m->op = op; m->req = req; m->ino = (double)ino; m->a1 = m->a2 = m->a3 = -1; m->slot = -1;
  return m;
}

#define POST(m) do { if (m) post(sess_of(req), m); } while (0)

static void ll_init(void *ud, struct fuse_conn_info *conn) {
  session_t *s = ud;
  if (s->max_write) conn->max_write = s->max_write;       // libfuse derives max_pages from it
  if (s->max_readahead) conn->max_readahead = s->max_readahead;
  if (s->max_background) conn->max_background = s->max_background;
  if (s->congestion_threshold) conn->congestion_threshold = s->congestion_threshold;
  if (s->time_gran) conn->time_gran = s->time_gran;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always READDIRPLUS: ls -l needs no extra LOOKUPs
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  if (s->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  msg_t *m = new_msg(OP_LOOKUP, req, parent);
  if (m) m->name = dup_or_null(name);
  POST(m);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  session_t *s = sess_of(req);
  fuse_reply_none(req);
  msg_t *m = new_msg(OP_FORGET, NULL, ino);
  if (m) { m->a1 = (double)nlookup; post(s, m); }
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  session_t *s = sess_of(req);
  for (size_t i = 0; i < count; i++) {
    msg_t *m = new_msg(OP_FORGET, NULL, forgets[i].ino);
    if (m) { m->a1 = (double)forgets[i].nlookup; post(s, m); }
  }
  fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_GETATTR, req, ino);
  if (m && fi) m->a1 = (double)fi->fh;
  POST(m);
}

static double ts_ms(struct timespec t) { return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6; }

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_SETATTR, req, ino);
  if (!m) return;
  m->a1 = to_set;
  if (fi) m->a2 = (double)fi->fh;
  m->setattr[0] = (double)attr->st_size;
  m->setattr[1] = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? -1 : ts_ms(attr->st_atim);
  m->setattr[2] = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? -1 : ts_ms(attr->st_mtim);
  m->setattr[3] = attr->st_mode; m->setattr[4] = attr->st_uid; m->setattr[5] = attr->st_gid;
  POST(m);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { msg_t *m = new_msg(OP_READLINK, req, ino); POST(m); }

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  msg_t *m = new_msg(OP_MKNOD, req, parent);
  if (m) { m->name = dup_or_null(name); m->a1 = mode; m->a2 = (double)rdev; }
  POST(m);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  msg_t *m = new_msg(OP_MKDIR, req, parent);
  if (m) { m->name = dup_or_null(name); m->a1 = mode; }
  POST(m);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  msg_t *m = new_msg(OP_UNLINK, req, parent);
  if (m) m->name = dup_or_null(name);
  POST(m);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  msg_t *m = new_msg(OP_RMDIR, req, parent);
  if (m) m->name = dup_or_null(name);
  POST(m);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  msg_t *m = new_msg(OP_SYMLINK, req, parent);
  if (m) { m->name = dup_or_null(name); m->name2 = dup_or_null(link); }
  POST(m);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
                      unsigned int flags) {
  msg_t *m = new_msg(OP_RENAME, req, parent);
  if (m) { m->name = dup_or_null(name); m->name2 = dup_or_null(newname); m->a1 = (double)newparent; m->a2 = flags; }
  POST(m);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  msg_t *m = new_msg(OP_LINK, req, ino);
  if (m) { m->name = dup_or_null(newname); m->a1 = (double)newparent; }
  POST(m);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_OPEN, req, ino);
  if (m) m->a1 = fi->flags;
  POST(m);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_READ, req, ino);
  if (m) { m->a1 = (double)fi->fh; m->a2 = (double)size; m->a3 = (double)off; }
  POST(m);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_WRITE, req, ino);
  if (!m) return;
  // The receive buffer is reused for the next request: copy the payload now, into a free
  // payload slot when there is one.
  session_t *s = sess_of(req);
  m->slot = payload_take(s, size);
  if (m->slot >= 0) {
    memcpy(s->arena->mem + (size_t)m->slot * s->arena->slot_size, buf, size);
  } else {
    m->data = malloc(size ? size : 1);
    if (!m->data) { fuse_reply_err(req, ENOMEM); free(m); return; }
    memcpy(m->data, buf, size);
  }
  m->datalen = size;
  m->a1 = (double)fi->fh; m->a2 = (double)off; m->a3 = fi->flags;
  POST(m);
}

static void ll_fh_op(int op, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, double a2) {
  msg_t *m = new_msg(op, req, ino);
  if (m) { m->a1 = fi ? (double)fi->fh : -1; m->a2 = a2; }
  POST(m);
}
// FLUSH carries the pid of the closing process (0 when the kernel cannot name it in our PID namespace).
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  ll_fh_op(OP_FLUSH, req, ino, fi, (double)fuse_req_ctx(req)->pid);
}
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ll_fh_op(OP_RELEASE, req, ino, fi, fi->flags); }
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int ds, struct fuse_file_info *fi) { ll_fh_op(OP_FSYNC, req, ino, fi, ds); }
static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { ll_fh_op(OP_RELEASEDIR, req, ino, fi, -1); }
static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int ds, struct fuse_file_info *fi) { ll_fh_op(OP_FSYNCDIR, req, ino, fi, ds); }

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_OPENDIR, req, ino);
  if (m) m->a1 = fi->flags;
  POST(m);
}

static void ll_readdir_any(int op, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  msg_t *m = new_msg(op, req, ino);
  if (m) { m->a1 = (double)fi->fh; m->a2 = (double)size; m->a3 = (double)off; }
  POST(m);
}
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ll_readdir_any(OP_READDIR, req, ino, size, off, fi);
}
static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ll_readdir_any(OP_READDIRPLUS, req, ino, size, off, fi);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { msg_t *m = new_msg(OP_STATFS, req, ino); POST(m); }

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  msg_t *m = new_msg(OP_ACCESS, req, ino);
  if (m) m->a1 = mask;
  POST(m);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  msg_t *m = new_msg(OP_CREATE, req, parent);
  if (m) { m->name = dup_or_null(name); m->a1 = mode; m->a2 = fi->flags; }
  POST(m);
}

static const struct fuse_lowlevel_ops OPS = {
  .init = ll_init, .lookup = ll_lookup, .forget = ll_forget, .forget_multi = ll_forget_multi,
  .getattr = ll_getattr, .setattr = ll_setattr, .readlink = ll_readlink, .mknod = ll_mknod, .mkdir = ll_mkdir,
  .unlink = ll_unlink, .rmdir = ll_rmdir, .symlink = ll_symlink, .rename = ll_rename, .link = ll_link,
  .open = ll_open, .read = ll_read, .write = ll_write, .flush = ll_flush, .release = ll_release, .fsync = ll_fsync,
  .opendir = ll_opendir, .readdir = ll_readdir, .readdirplus = ll_readdirplus, .releasedir = ll_releasedir,
  .fsyncdir = ll_fsyncdir, .statfs = ll_statfs, .access = ll_access, .create = ll_create,
};

// ---- custom io (fd mode) ----------------------------------------------------------------------

static size_t ring_home(uint64_t unique) { return (size_t)((unique >> 1) % RING_SLOTS); }

static void ring_add(session_t *s, uint64_t unique) {
  if (!s->ring) return;
  for (size_t i = 0, h = ring_home(unique); i < RING_SLOTS; i++, h = (h + 1) % RING_SLOTS) {
    uint64_t zero = 0;
    if (__atomic_compare_exchange_n(&s->ring[h], &zero, unique, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return;
  }  // full: best effort, this one is not tracked
}

static void ring_del(session_t *s, uint64_t unique) {
  if (!s->ring) return;
  for (size_t i = 0, h = ring_home(unique); i < RING_SLOTS; i++, h = (h + 1) % RING_SLOTS) {
    uint64_t want = unique;
    if (__atomic_compare_exchange_n(&s->ring[h], &want, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return;
  }
}

static ssize_t io_read(int fd, void *buf, size_t len, void *ud) {
  session_t *s = ud;
  if (s->synth) {
    // Successor: libfuse first gets the INIT the kernel sent our predecessor.
    size_t n = s->synth_len < len ? s->synth_len : len;
    memcpy(buf, s->synth, n);
    free(s->synth);
    s->synth = NULL;
    s->init_seen = 1;
    return (ssize_t)n;
  }
  ssize_t n = read(fd, buf, len);
  if (n >= (ssize_t)sizeof(struct k_in_header)) {
    const struct k_in_header *h = buf;
    if (h->opcode != K_FORGET && h->opcode != K_BATCH_FORGET && h->opcode != K_INTERRUPT && h->opcode != K_NOTIFY_REPLY)
      ring_add(s, h->unique);
  }
  if (n >= (ssize_t)sizeof(struct k_in_header) && !s->init_seen) {
    const struct k_in_header *h = buf;
    if (h->opcode == K_FUSE_INIT) {
      s->init_seen = 1;
      msg_t *m = new_msg(OP_INITED, NULL, 0);
      if (m && (m->data = malloc((size_t)n))) { memcpy(m->data, buf, (size_t)n); m->datalen = (size_t)n; post(s, m); }
      else free(m);
    }
  }
  return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *ud) {
  session_t *s = ud;
  uint64_t unique = count > 0 && iov[0].iov_len >= sizeof(struct k_out_header) ? ((const struct k_out_header *)iov[0].iov_base)->unique : 0;
  if (unique == SYNTH_UNIQUE) {
    size_t total = 0;  // the reply to our synthetic INIT: the kernel must not see it
    for (int i = 0; i < count; i++) total += iov[i].iov_len;
    return (ssize_t)total;
  }
  ssize_t r = writev(fd, iov, count);
  if (unique) ring_del(s, unique);  // answered (or the kernel no longer wants it)
  return r;
}

/** Map the in-flight file (created 0600); a successor keeps what its predecessor left as `stale`. */
static int ring_open(session_t *s, const char *path, int successor) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (ftruncate(fd, RING_SLOTS * sizeof(uint64_t)) != 0) { close(fd); return -1; }
  void *p = mmap(NULL, RING_SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return -1;
  s->ring = p;
  if (successor) {
    s->stale = malloc(RING_SLOTS * sizeof(uint64_t));
    if (s->stale)
      for (size_t i = 0; i < RING_SLOTS; i++) if (s->ring[i] && s->ring[i] != SYNTH_UNIQUE) s->stale[s->nstale++] = s->ring[i];
  }
  memset(s->ring, 0, RING_SLOTS * sizeof(uint64_t));
  return 0;
}

static const struct fuse_custom_io IO = { .writev = io_writev, .read = io_read };

static void *reader_main(void *arg) {
  session_t *s = arg;
  sigset_t all;  // signals belong to Node's main thread
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct fuse_buf buf = { .mem = NULL };
  while (!fuse_session_exited(s->se)) {
    int res = fuse_session_receive_buf(s->se, &buf);
    if (res == -EINTR) continue;
    if (res <= 0) break;  // 0 or -ENODEV: unmounted / connection aborted
    fuse_session_process_buf(s->se, &buf);
  }
  free(buf.mem);
  msg_t *m = new_msg(OP_CLOSED, NULL, 0);
  if (m) post(s, m);
  return NULL;
}

// ---- JS thread side ---------------------------------------------------------------------------

static void free_external(napi_env env, void *data, void *hint) { free(data); }

static uint32_t slot_put(session_t *s, fuse_req_t req) {
  if (s->nfree == 0) {
    uint32_t n = s->nslots ? s->nslots * 2 : 256;
    fuse_req_t *slots = realloc(s->slots, n * sizeof *slots);
    if (slots) s->slots = slots;
    uint32_t *fl = slots ? realloc(s->freelist, n * sizeof *fl) : NULL;
    if (fl) s->freelist = fl;
    uint32_t *gens = fl ? realloc(s->gens, n * sizeof *gens) : NULL;
    if (gens) s->gens = gens;
    int8_t *pay = gens ? realloc(s->payload_of, n * sizeof *pay) : NULL;
    if (!pay) return 0;
    s->payload_of = pay;
    for (uint32_t i = s->nslots; i < n; i++) { s->gens[i] = 0; s->payload_of[i] = -1; }
    for (uint32_t i = n; i > s->nslots; i--) if (i - 1 != 0) s->freelist[s->nfree++] = i - 1;  // id 0 = none
    s->slots[0] = NULL;
    for (uint32_t i = s->nslots; i < n; i++) s->slots[i] = NULL;
    s->nslots = n;
  }
  uint32_t id = s->freelist[--s->nfree];
  s->slots[id] = req;
  s->gens[id]++;
  s->pending++;
  return id;
}

/** Takes the request out of its slot (NULL: unknown id or already answered). */
static fuse_req_t slot_take(session_t *s, uint32_t id) {
  if (id == 0 || id >= s->nslots || !s->slots[id]) return NULL;
  fuse_req_t req = s->slots[id];
  s->slots[id] = NULL;
  // The answer ends the request: JS no longer reads its WRITE payload, so the slot is free again.
  if (s->payload_of[id] >= 0) { payload_give(s, s->payload_of[id]); s->payload_of[id] = -1; }
  s->freelist[s->nfree++] = id;
  s->pending--;
  return req;
}

/** Slot id and generation packed into the interrupt callback's data pointer (no allocation). */
static void *intr_token(uint32_t id, uint32_t gen) { return (void *)(uintptr_t)(((uint64_t)gen << 32) | id); }

/**
 * libfuse's interrupt callback: the kernel interrupted this request. Runs on the reader thread
 * (or on the JS thread inside fuse_req_interrupt_func when the interrupt came first), with the
 * request kept alive by libfuse but possibly answered concurrently by JS: it touches nothing of
 * the request and only queues a notice; call_js checks it still names an unanswered request.
 */
static void on_interrupt(fuse_req_t req, void *data) {
  uint64_t t = (uint64_t)(uintptr_t)data;
  msg_t *m = new_msg(OP_INTERRUPT, NULL, 0);
  if (!m) return;
  m->a1 = (double)(uint32_t)t;
  m->a2 = (double)(uint32_t)(t >> 32);
  post(sess_of(req), m);
}

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  session_t *s = ctx;
  msg_t *m = data;
  if (env == NULL || s->destroyed) {
    // The session is gone: replying would touch freed memory; the request is dropped.
    msg_drop(s, m);
    return;
  }
  uint32_t id = m->req ? slot_put(s, m->req) : 0;
  if (m->req && id == 0) { fuse_reply_err(m->req, ENOMEM); m->req = NULL; }
  if (id && m->slot >= 0) s->payload_of[id] = (int8_t)m->slot;
  else if (m->slot >= 0) { payload_give(s, m->slot); m->slot = -1; }
  if (m->op == OP_INTERRUPT) {
    // Only while the slot still holds the interrupted request (not answered, id not reused).
    uint32_t iid = (uint32_t)m->a1, gen = (uint32_t)m->a2;
    if (iid == 0 || iid >= s->nslots || !s->slots[iid] || s->gens[iid] != gen) { free(m); return; }
    id = iid;
    m->a1 = m->a2 = -1;
  }
  // Registered after the slot exists; called at once if the kernel interrupted it already.
  if (id && m->req) fuse_req_interrupt_func(m->req, on_interrupt, intr_token(id, s->gens[id]));
  napi_value argv[9], undef;
  napi_get_undefined(env, &undef);
  napi_create_int32(env, m->op, &argv[0]);
  napi_create_uint32(env, id, &argv[1]);
  napi_create_double(env, m->ino, &argv[2]);
  napi_create_double(env, m->a1, &argv[3]);
  napi_create_double(env, m->a2, &argv[4]);
  napi_create_double(env, m->a3, &argv[5]);
  argv[6] = undef; argv[7] = undef; argv[8] = undef;
  if (m->name) napi_create_string_utf8(env, m->name, NAPI_AUTO_LENGTH, &argv[6]);
  if (m->name2) napi_create_string_utf8(env, m->name2, NAPI_AUTO_LENGTH, &argv[7]);
  if (m->slot >= 0) {
    // A payload slot: JS reads it through its payloadArena Buffer until it answers the request.
    napi_create_double(env, (double)m->slot * 4294967296.0 + (double)m->datalen, &argv[8]);
  } else if (m->data) {
    if (napi_create_external_buffer(env, m->datalen, m->data, free_external, NULL, &argv[8]) != napi_ok) {
      napi_create_buffer_copy(env, m->datalen, m->data, NULL, &argv[8]);
      free(m->data);
    }
    m->data = NULL;
  } else if (m->op == OP_SETATTR) {
    napi_value ab;
    void *p;
    napi_create_arraybuffer(env, sizeof m->setattr, &p, &ab);
    memcpy(p, m->setattr, sizeof m->setattr);
    napi_create_typedarray(env, napi_float64_array, 6, ab, 0, &argv[8]);
  }
  free(m->name); free(m->name2); free(m);
  napi_value handler, global;
  napi_get_reference_value(env, s->handler, &handler);
  napi_get_global(env, &global);
  napi_call_function(env, global, handler, 9, argv, NULL);  // a throw surfaces as an uncaught exception
}

// Argument helpers ------------------------------------------------------------------------------


static session_t *get_session(napi_env env, napi_value v) {
  session_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || !s) { napi_throw_type_error(env, NULL, "not a session"); return NULL; }
  return s;
}

static double num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static napi_value boolean(napi_env env, int b) {
  napi_value r;
  napi_get_boolean(env, b, &r);
  return r;
}

/** The request for reply functions; NULL (and returns false to JS) when already answered. */
static fuse_req_t take(napi_env env, napi_value sv, napi_value idv, session_t **sp) {
  session_t *s = get_session(env, sv);
  if (!s) return NULL;
  *sp = s;
  if (s->destroyed) return NULL;
  uint32_t id = 0;
  napi_get_value_uint32(env, idv, &id);
  return slot_take(s, id);
}

static void ms_to_ts(double ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(ms / 1000);
  long ns = (long)((ms - (double)ts->tv_sec * 1000.0) * 1e6);
  ts->tv_nsec = ns < 0 ? 0 : ns > 999999999 ? 999999999 : ns;
}

static void attr_from(const double *a, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)a[A_INO]; st->st_mode = (mode_t)a[A_MODE]; st->st_nlink = (nlink_t)a[A_NLINK];
  st->st_uid = (uid_t)a[A_UID]; st->st_gid = (gid_t)a[A_GID]; st->st_size = (off_t)a[A_SIZE];
  st->st_blocks = (blkcnt_t)a[A_BLOCKS]; st->st_blksize = (blksize_t)a[A_BLKSIZE];
  ms_to_ts(a[A_ATIME], &st->st_atim); ms_to_ts(a[A_MTIME], &st->st_mtim); ms_to_ts(a[A_CTIME], &st->st_ctim);
}

static int read_attr(napi_env env, napi_value arr, struct stat *st, double *ino) {
  napi_typedarray_type t;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, arr, &t, &len, &data, NULL, NULL) != napi_ok || t != napi_float64_array || len < A_COUNT) return -1;
  attr_from(data, st);
  if (ino) *ino = ((const double *)data)[A_INO];
  return 0;
}

static void fill_fi(struct fuse_file_info *fi, double fh, uint32_t flags) {
  memset(fi, 0, sizeof *fi);
  fi->fh = (uint64_t)fh;
  fi->direct_io = !!(flags & OPEN_DIRECT_IO);
  fi->keep_cache = !!(flags & OPEN_KEEP_CACHE);
  fi->cache_readdir = !!(flags & OPEN_CACHE_READDIR);
  fi->nonseekable = !!(flags & OPEN_NONSEEKABLE);
}

static void arena_unref(arena_t *a) {
  if (a && --a->refs == 0) { free(a->mem); free(a); }
}

/** A JS Buffer over the arena was garbage-collected. */
static void arena_buffer_finalized(napi_env env, void *data, void *hint) { arena_unref(hint); }

/** Frees a session and everything it still owns; only when nothing can reach it any more. */
static void session_free(session_t *s) {
  if (s->arena) { arena_unref(s->arena); pthread_mutex_destroy(&s->arena_lock); }
  free(s->slots); free(s->freelist); free(s->gens); free(s->payload_of); free(s->stale); free(s->synth);
  if (s->ring) munmap(s->ring, RING_SLOTS * sizeof(uint64_t));
  free(s);
  live_sessions--;
}

/** Drops one owner; the last frees the session. */
static void session_unref(session_t *s) { if (--s->refs == 0) session_free(s); }

/** The JS handle was garbage-collected: no reply*() call can name this session again. */
static void handle_finalized(napi_env env, void *data, void *hint) { session_unref(data); }

/** The thread-safe function is gone (released by destroy(), queue drained): no call_js any more. */
static void tsfn_finalized(napi_env env, void *data, void *hint) {
  session_t *s = data;
  // Not destroyed: Node is tearing the environment down while the reader still runs; keep it.
  if (s->destroyed) session_unref(s);
}

// open(mountpoint, options, init, handler[, { fd, resumeInit? }]) -> session
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(5);
  int use_fd = -1;
  char inflight[4096] = "";
  size_t n;
  char *synth = NULL;
  size_t synth_len = 0;
  napi_valuetype t5 = napi_undefined;
  if (argc >= 5) napi_typeof(env, argv[4], &t5);
  if (t5 == napi_object) {
    napi_value v;
    bool has = false;
    napi_has_named_property(env, argv[4], "fd", &has);
    if (!has) THROW(env, "fd options need fd");
    napi_get_named_property(env, argv[4], "fd", &v);
    use_fd = (int)num(env, v);
    if (use_fd < 0) THROW(env, "bad fd");
    napi_has_named_property(env, argv[4], "inflightPath", &has);
    if (has) {
      napi_get_named_property(env, argv[4], "inflightPath", &v);
      if (napi_get_value_string_utf8(env, v, inflight, sizeof inflight, &n) != napi_ok || n >= sizeof inflight - 1) THROW(env, "bad inflightPath");
    }
    napi_has_named_property(env, argv[4], "resumeInit", &has);
    if (has) {
      napi_get_named_property(env, argv[4], "resumeInit", &v);
      bool isbuf = false;
      void *d = NULL;
      napi_is_buffer(env, v, &isbuf);
      if (isbuf) napi_get_buffer_info(env, v, &d, &synth_len);
      if (!isbuf || synth_len < sizeof(struct k_in_header) || synth_len > 4096 ||
          ((const struct k_in_header *)d)->opcode != K_FUSE_INIT) THROW(env, "resumeInit is not a saved FUSE_INIT request");
      synth = malloc(synth_len);
      if (!synth) THROW(env, "out of memory");
      memcpy(synth, d, synth_len);
      struct k_in_header *h = (struct k_in_header *)synth;
      h->unique = SYNTH_UNIQUE;
      h->len = (uint32_t)synth_len;
    }
  }
  char mnt[4096], opts[4096];
  if (napi_get_value_string_utf8(env, argv[0], mnt, sizeof mnt, &n) != napi_ok || n >= sizeof mnt - 1) THROW(env, "bad mount point");
  if (napi_get_value_string_utf8(env, argv[1], opts, sizeof opts, &n) != napi_ok || n >= sizeof opts - 1) THROW(env, "bad options");
  session_t *s = calloc(1, sizeof *s);
  if (!s) { free(synth); THROW(env, "out of memory"); }
  live_sessions++;
  s->synth = synth; s->synth_len = synth_len;
  if (inflight[0] && ring_open(s, inflight, synth != NULL) != 0) { session_free(s); THROW(env, "cannot map the in-flight file"); }
  const char *keys[] = { "maxWrite", "maxReadahead", "maxBackground", "congestionThreshold", "timeGranNs", "writebackCache", "payloadSlots" };
  unsigned vals[7] = { 0 };
  for (int i = 0; i < 7; i++) {
    napi_value v;
    bool has = false;
    napi_has_named_property(env, argv[2], keys[i], &has);
    if (!has) continue;
    napi_get_named_property(env, argv[2], keys[i], &v);
    napi_valuetype vt;
    napi_typeof(env, v, &vt);
    if (vt == napi_boolean) { bool b; napi_get_value_bool(env, v, &b); vals[i] = b; }
    else if (vt == napi_number) vals[i] = (unsigned)num(env, v);
  }
  s->max_write = vals[0]; s->max_readahead = vals[1]; s->max_background = vals[2];
  s->congestion_threshold = vals[3]; s->time_gran = vals[4]; s->writeback = (int)vals[5];
  if (vals[6] > 0 && s->max_write > 0) {
    // payloadSlots (at most 32: one bit each) of max_write bytes, touched only when used.
    uint32_t n = vals[6] > 32 ? 32 : vals[6];
    arena_t *a = calloc(1, sizeof *a);
    if (a) a->mem = malloc((size_t)n * s->max_write);
    if (!a || !a->mem) { free(a); session_free(s); THROW(env, "out of memory"); }
    a->slot_size = s->max_write; a->nslots = n; a->refs = 1;
    s->arena = a;
    s->arena_free = n == 32 ? 0xffffffffu : (1u << n) - 1;
    pthread_mutex_init(&s->arena_lock, NULL);
  }

  char *fargv[3] = { "bucketmount", opts[0] ? "-o" : NULL, opts[0] ? opts : NULL };
  struct fuse_args args = FUSE_ARGS_INIT(opts[0] ? 3 : 1, fargv);
  s->se = fuse_session_new(&args, &OPS, sizeof OPS, s);
  fuse_opt_free_args(&args);
  if (!s->se) { session_free(s); THROW(env, "fuse_session_new failed (bad mount options?)"); }
  if (use_fd >= 0) {
    s->fd_mode = 1;
    if (fuse_session_custom_io(s->se, &IO, use_fd) != 0) {
      fuse_session_destroy(s->se);
      session_free(s);
      THROW(env, "fuse_session_custom_io failed");
    }
  } else if (fuse_session_mount(s->se, mnt) != 0) {
    fuse_session_destroy(s->se);
    session_free(s);
    THROW(env, "fuse_session_mount failed");
  }
  napi_value name;
  napi_create_string_utf8(env, "bucketmount-fuse3", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, s, tsfn_finalized, s, call_js, &s->tsfn) != napi_ok) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    session_free(s);
    THROW(env, "cannot create thread-safe function");
  }
  s->refs = 1;  // the thread-safe function
  if (pthread_create(&s->thread, NULL, reader_main, s) != 0) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
    s->destroyed = 1;  // tsfn_finalized frees it
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    THROW(env, "cannot start the reader thread");
  }
  s->thread_started = 1;
  napi_create_reference(env, argv[3], 1, &s->handler);
  napi_value out;
  if (napi_create_external(env, s, handle_finalized, NULL, &out) != napi_ok) return NULL;
  s->refs++;  // the JS handle
  return out;
}

// unmount(session): detach the mount; the reader then sees ENODEV and reports OP_CLOSED.
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s || s->destroyed) return NULL;
  fuse_session_unmount(s->se);
  return NULL;
}

// destroy(session): after OP_CLOSED. Fails requests still unanswered, joins the reader, frees.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s || s->destroyed) return NULL;
  fuse_session_exit(s->se);
  if (s->thread_started) pthread_join(s->thread, NULL);
  for (uint32_t i = 1; i < s->nslots; i++) if (s->slots[i]) fuse_reply_err(slot_take(s, i), ENOTCONN);
  s->destroyed = 1;
  fuse_session_unmount(s->se);
  fuse_session_destroy(s->se);
  s->se = NULL;
  napi_delete_reference(env, s->handler);
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  free(s->slots); free(s->freelist); free(s->gens); free(s->payload_of);
  s->slots = NULL; s->freelist = NULL; s->gens = NULL; s->payload_of = NULL; s->nslots = 0; s->nfree = 0;
  free(s->stale); s->stale = NULL; s->nstale = 0;
  if (s->ring) { munmap(s->ring, RING_SLOTS * sizeof(uint64_t)); s->ring = NULL; }
  // `s` itself stays allocated while late reply calls (the JS handle) or queued messages (the
  // thread-safe function) can still read `destroyed`; the last of the two frees it.
  return NULL;
}

static napi_value js_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s) return NULL;
  napi_value r;
  napi_create_int32(env, s->destroyed ? -1 : fuse_session_fd(s->se), &r);
  return r;
}

// sessions() -> sessions allocated and not yet freed (a destroyed one is freed once its handle
// is garbage-collected and its queued messages are drained).
static napi_value js_sessions(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_create_uint32(env, live_sessions, &r);
  return r;
}

// payloadArena(session) -> Buffer over every payload slot (undefined without payloadSlots)
static napi_value js_payload_arena(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s || !s->arena) return NULL;
  napi_value out;
  arena_t *a = s->arena;
  if (napi_create_external_buffer(env, (size_t)a->nslots * a->slot_size, a->mem, arena_buffer_finalized, a, &out) != napi_ok)
    return NULL;
  a->refs++;
  return out;
}

static napi_value js_pending(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s) return NULL;
  napi_value r;
  napi_create_uint32(env, s->pending, &r);
  return r;
}

// replyErr(session, id, errno>0)
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  return boolean(env, fuse_reply_err(req, (int)num(env, argv[2])) == 0);
}

static int fill_entry(napi_env env, napi_value attr, napi_value attr_to, napi_value entry_to, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  double ino = 0;
  if (read_attr(env, attr, &e->attr, &ino) != 0) return -1;
  e->ino = (fuse_ino_t)ino;
  e->attr_timeout = num(env, attr_to);
  e->entry_timeout = num(env, entry_to);
  return 0;
}

// replyEntry(session, id, attr, attrTimeoutS, entryTimeoutS); attr[A_INO] == 0: negative entry
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  ARGS(5);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  struct fuse_entry_param e;
  if (fill_entry(env, argv[2], argv[3], argv[4], &e) != 0) { fuse_reply_err(req, EIO); THROW(env, "bad attr array"); }
  return boolean(env, fuse_reply_entry(req, &e) == 0);
}

// replyCreate(session, id, attr, attrTimeoutS, entryTimeoutS, fh, openFlags)
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(7);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  struct fuse_entry_param e;
  if (fill_entry(env, argv[2], argv[3], argv[4], &e) != 0) { fuse_reply_err(req, EIO); THROW(env, "bad attr array"); }
  struct fuse_file_info fi;
  fill_fi(&fi, num(env, argv[5]), (uint32_t)num(env, argv[6]));
  return boolean(env, fuse_reply_create(req, &e, &fi) == 0);
}

// replyAttr(session, id, attr, attrTimeoutS)
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(4);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  struct stat st;
  if (read_attr(env, argv[2], &st, NULL) != 0) { fuse_reply_err(req, EIO); THROW(env, "bad attr array"); }
  return boolean(env, fuse_reply_attr(req, &st, num(env, argv[3])) == 0);
}

// replyOpen(session, id, fh, openFlags)
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(4);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  struct fuse_file_info fi;
  fill_fi(&fi, num(env, argv[2]), (uint32_t)num(env, argv[3]));
  return boolean(env, fuse_reply_open(req, &fi) == 0);
}

// replyWrite(session, id, count)
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  return boolean(env, fuse_reply_write(req, (size_t)num(env, argv[2])) == 0);
}

// replyBuf(session, id, buffer, length): READ data (length <= buffer length)
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(4);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  napi_is_buffer(env, argv[2], &isbuf);
  if (isbuf) napi_get_buffer_info(env, argv[2], &data, &len);
  double want = num(env, argv[3]);
  if (!isbuf || want < 0 || (size_t)want > len) { fuse_reply_err(req, EIO); THROW(env, "bad buffer or length"); }
  return boolean(env, fuse_reply_buf(req, data, (size_t)want) == 0);
}

// replyReadlink(session, id, target)
static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  char target[4096];
  size_t n;
  if (napi_get_value_string_utf8(env, argv[2], target, sizeof target, &n) != napi_ok || n >= sizeof target - 1) {
    fuse_reply_err(req, ENAMETOOLONG);
    return boolean(env, 0);
  }
  return boolean(env, fuse_reply_readlink(req, target) == 0);
}

// replyStatfs(session, id, [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax])
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  if (!req) return boolean(env, 0);
  double v[11] = { 0 };
  for (uint32_t i = 0; i < 11; i++) {
    napi_value x;
    if (napi_get_element(env, argv[2], i, &x) == napi_ok) v[i] = num(env, x);
  }
  struct statvfs st = {
    .f_bsize = (unsigned long)v[0], .f_frsize = (unsigned long)v[1], .f_blocks = (fsblkcnt_t)v[2],
    .f_bfree = (fsblkcnt_t)v[3], .f_bavail = (fsblkcnt_t)v[4], .f_files = (fsfilcnt_t)v[5],
    .f_ffree = (fsfilcnt_t)v[6], .f_favail = (fsfilcnt_t)v[7], .f_fsid = (unsigned long)v[8],
    .f_flag = (unsigned long)v[9], .f_namemax = (unsigned long)v[10],
  };
  return boolean(env, fuse_reply_statfs(req, &st) == 0);
}

// replyDir(session, id, plus, size, firstOffset, names[], attrs Float64Array (A_COUNT per name),
//          attrTimeoutS, entryTimeoutS) -> number of entries that fit (entry i gets offset
//          firstOffset + i + 1). With plus, each entry that fit and is not "." / ".." counts as
//          one lookup of its node in the kernel.
static napi_value js_reply_dir(napi_env env, napi_callback_info info) {
  ARGS(9);
  session_t *s;
  fuse_req_t req = take(env, argv[0], argv[1], &s);
  napi_value out;
  if (!req) { napi_create_int32(env, -1, &out); return out; }
  bool plus = false;
  napi_get_value_bool(env, argv[2], &plus);
  size_t size = (size_t)num(env, argv[3]);
  double first = num(env, argv[4]);
  uint32_t count = 0;
  napi_get_array_length(env, argv[5], &count);
  napi_typedarray_type t;
  size_t alen = 0;
  void *adata = NULL;
  if (napi_get_typedarray_info(env, argv[6], &t, &alen, &adata, NULL, NULL) != napi_ok || t != napi_float64_array ||
      alen < (size_t)count * A_COUNT) {
    fuse_reply_err(req, EIO);
    THROW(env, "bad attrs array");
  }
  double attr_to = num(env, argv[7]), entry_to = num(env, argv[8]);
  if (size > (1u << 20)) size = 1u << 20;
  char *buf = malloc(size ? size : 1);
  if (!buf) { fuse_reply_err(req, ENOMEM); napi_create_int32(env, -1, &out); return out; }
  size_t used = 0;
  uint32_t i;
  char name[1024];
  for (i = 0; i < count; i++) {
    napi_value nv;
    size_t nlen;
    napi_get_element(env, argv[5], i, &nv);
    if (napi_get_value_string_utf8(env, nv, name, sizeof name, &nlen) != napi_ok) break;
    const double *a = (const double *)adata + (size_t)i * A_COUNT;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    attr_from(a, &e.attr);
    size_t need;
    off_t off = (off_t)(first + i + 1);
    if (plus) {
      int dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;  // the kernel takes no lookup for these
      e.ino = dot ? 0 : (fuse_ino_t)a[A_INO];
      e.attr_timeout = dot ? 0 : attr_to;
      e.entry_timeout = dot ? 0 : entry_to;
      need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, off);
    } else {
      need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, off);
    }
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  napi_create_uint32(env, i, &out);
  return out;
}

// mountFd(fd, mountpoint, source, kernelOptions, readOnly): mount(2) of FUSE on an open /dev/fuse
// fd (root only). kernelOptions: extra kernel options (allow_other, default_permissions).
static napi_value js_mount_fd(napi_env env, napi_callback_info info) {
  ARGS(5);
  char mnt[4096], src[1024], kopts[1024], data[2048];
  size_t n;
  int fd = (int)num(env, argv[0]);
  if (napi_get_value_string_utf8(env, argv[1], mnt, sizeof mnt, &n) != napi_ok || n >= sizeof mnt - 1) THROW(env, "bad mount point");
  if (napi_get_value_string_utf8(env, argv[2], src, sizeof src, &n) != napi_ok || n >= sizeof src - 1) THROW(env, "bad source");
  if (napi_get_value_string_utf8(env, argv[3], kopts, sizeof kopts, &n) != napi_ok || n >= sizeof kopts - 1) THROW(env, "bad options");
  bool ro = false;
  napi_get_value_bool(env, argv[4], &ro);
  struct stat st;
  if (stat(mnt, &st) != 0) THROW(env, "mount point not found");
  snprintf(data, sizeof data, "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", fd, st.st_mode & S_IFMT, (unsigned)getuid(),
           (unsigned)getgid(), kopts[0] ? "," : "", kopts);
  unsigned long flags = MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0);
  if (mount(src, mnt, "fuse.bucketmount", flags, data) != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "mount(2) failed: %s", strerror(errno));
    THROW(env, msg);
  }
  return NULL;
}

// notifyResend(session) -> 0 or -errno: FUSE_NOTIFY_RESEND (bare out header, unique 0).
static napi_value js_notify_resend(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s) return NULL;
  int r = -EBADF;
  if (!s->destroyed) {
    struct k_out_header h = { .len = sizeof h, .error = K_NOTIFY_RESEND, .unique = 0 };
    ssize_t w = write(fuse_session_fd(s->se), &h, sizeof h);
    r = w == (ssize_t)sizeof h ? 0 : -errno;
  }
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

// failStale(session) -> count: answer every request the predecessor left unanswered with EIO
// (the fallback when FUSE_NOTIFY_RESEND is refused). Each is answered once; then the list is dropped.
static napi_value js_fail_stale(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = get_session(env, argv[0]);
  if (!s) return NULL;
  uint32_t done = 0;
  if (!s->destroyed) {
    for (size_t i = 0; i < s->nstale; i++) {
      struct k_out_header h = { .len = sizeof h, .error = -EIO, .unique = s->stale[i] };
      if (write(fuse_session_fd(s->se), &h, sizeof h) == (ssize_t)sizeof h) done++;
    }
  }
  free(s->stale);
  s->stale = NULL;
  s->nstale = 0;
  napi_value out;
  napi_create_uint32(env, done, &out);
  return out;
}

void fd_pass_register(napi_env env, napi_value exports); // fd-pass.c

static napi_value init(napi_env env, napi_value exports) {
  struct { const char *name; napi_callback fn; } fns[] = {
    { "open", js_open }, { "unmount", js_unmount }, { "destroy", js_destroy }, { "fd", js_fd }, { "pending", js_pending },
    { "replyErr", js_reply_err }, { "replyEntry", js_reply_entry }, { "replyCreate", js_reply_create },
    { "replyAttr", js_reply_attr }, { "replyOpen", js_reply_open }, { "replyWrite", js_reply_write },
    { "replyBuf", js_reply_buf }, { "replyReadlink", js_reply_readlink }, { "replyStatfs", js_reply_statfs },
    { "replyDir", js_reply_dir }, { "mountFd", js_mount_fd }, { "notifyResend", js_notify_resend },
    { "failStale", js_fail_stale }, { "sessions", js_sessions }, { "payloadArena", js_payload_arena },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  fd_pass_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
