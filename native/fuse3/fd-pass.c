// Descriptor passing for the fd keeper (docs/architecture.md "fd keeper"): unix datagram sockets
// that carry one message and at most one descriptor (SCM_RIGHTS). Node's `net` cannot send or
// receive descriptors; this file only moves them. Every call is non-blocking except
// waitReadable(), which polls one socket for at most the given time. Errors are thrown with the
// errno name in `code` (ENOENT, ECONNREFUSED, EAGAIN...), so callers decide what they mean.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>
#include "napi-args.h"

#define FD_PASS_MAX_MESSAGE 4096

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *name = err == ENOENT ? "ENOENT" : err == ECONNREFUSED ? "ECONNREFUSED" : err == EAGAIN ? "EAGAIN"
                   : err == EACCES ? "EACCES" : err == EADDRINUSE ? "EADDRINUSE" : err == ENAMETOOLONG ? "ENAMETOOLONG"
                   : err == EBADF ? "EBADF" : err == EMSGSIZE ? "EMSGSIZE" : err == EINVAL ? "EINVAL" : "EIO";
  napi_throw_error(env, name, msg);
  return NULL;
}

static int unix_address(napi_env env, napi_value v, struct sockaddr_un *sa) {
  size_t n = 0;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, v, sa->sun_path, sizeof sa->sun_path, &n) != napi_ok) return -1;
  if (n == 0 || n >= sizeof sa->sun_path - 1) return -1;
  return 0;
}

static int int_arg(napi_env env, napi_value v) {
  int32_t i = -1;
  napi_get_value_int32(env, v, &i);
  return i;
}

static napi_value int_value(napi_env env, int i) {
  napi_value r;
  napi_create_int32(env, i, &r);
  return r;
}

// bindDatagram(path) -> fd: a non-blocking, close-on-exec datagram socket bound at `path` (owner only: umask 077).
static napi_value js_bind_datagram(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un sa;
  if (argc < 1 || unix_address(env, argv[0], &sa) != 0) return throw_errno(env, "bad socket path", ENAMETOOLONG);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  mode_t old = umask(0077);
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int err = errno;
  umask(old);
  if (r != 0) {
    close(fd);
    return throw_errno(env, "bind", err);
  }
  return int_value(env, fd);
}

// openDatagram() -> fd: an unbound non-blocking, close-on-exec datagram socket (send only).
static napi_value js_open_datagram(napi_env env, napi_callback_info info) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return int_value(env, fd);
}

// sendDatagram(sock, path, data, fd) -> undefined: one message to the socket bound at `path`,
// carrying a duplicate of `fd` when fd >= 0 (the sender keeps its own).
static napi_value js_send_datagram(napi_env env, napi_callback_info info) {
  ARGS(4);
  if (argc < 4) return throw_errno(env, "sendDatagram(sock, path, data, fd)", EINVAL);
  struct sockaddr_un sa;
  if (unix_address(env, argv[1], &sa) != 0) return throw_errno(env, "bad socket path", ENAMETOOLONG);
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) return throw_errno(env, "data must be a Buffer", EINVAL);
  if (len > FD_PASS_MAX_MESSAGE) return throw_errno(env, "message too long", EMSGSIZE);
  int sock = int_arg(env, argv[0]);
  int pass = int_arg(env, argv[3]);
  struct iovec iov = { .iov_base = data, .iov_len = len };
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
  struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1 };
  if (pass >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass, sizeof(int));
  }
  if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return throw_errno(env, "sendmsg", errno);
  return NULL;
}

// receiveDatagram(sock) -> undefined (nothing waiting) | { data: Buffer, fd: number (-1: none) }.
// A message with more than one descriptor keeps the first; the others are closed.
static napi_value js_receive_datagram(napi_env env, napi_callback_info info) {
  ARGS(1);
  int sock = argc < 1 ? -1 : int_arg(env, argv[0]);
  char buf[FD_PASS_MAX_MESSAGE];
  union { char buf[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
  struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
  ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return NULL;
    return throw_errno(env, "recvmsg", errno);
  }
  int got = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (got < 0) got = fd;
      else close(fd);
    }
  }
  // A truncated message is not one we sent: drop it (and its descriptor).
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    if (got >= 0) close(got);
    got = -1;
    n = 0;
  }
  napi_value out, data;
  void *copy = NULL;
  napi_create_object(env, &out);
  napi_create_buffer_copy(env, (size_t)n, buf, &copy, &data);
  napi_set_named_property(env, out, "data", data);
  napi_set_named_property(env, out, "fd", int_value(env, got));
  return out;
}

// waitReadable(sock, timeoutMs) -> boolean: poll(2) for one socket (blocks the caller).
static napi_value js_wait_readable(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct pollfd p = { .fd = argc < 1 ? -1 : int_arg(env, argv[0]), .events = POLLIN };
  int timeout = argc < 2 ? 0 : int_arg(env, argv[1]);
  int r;
  do r = poll(&p, 1, timeout); while (r < 0 && errno == EINTR);
  napi_value b;
  napi_get_boolean(env, r > 0, &b);
  return b;
}

void fd_pass_register(napi_env env, napi_value exports) {
  struct { const char *name; napi_callback fn; } fns[] = {
    { "bindDatagram", js_bind_datagram }, { "openDatagram", js_open_datagram }, { "sendDatagram", js_send_datagram },
    { "receiveDatagram", js_receive_datagram }, { "waitReadable", js_wait_readable },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
}
