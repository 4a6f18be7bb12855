/*
 * E2E helper, built static into the test image (test/e2e/images.ts): two patterns of programs that
 * write a large file while running subprocesses (Python's open() + subprocess, Go's os.Create +
 * exec.Command). MiB number b of FILE is filled with the byte (b * 37 + 11) & 0xff.
 *
 *   cloexec-writer exec FILE MIB        open FILE with O_CLOEXEC, write MIB MiB, fork, close our copy
 *                                       and wait for the child, which sleeps 0.5 s and execs /bin/true:
 *                                       its close-on-exec copy is the last, closed inside execve.
 *   cloexec-writer fork-close FILE MIB  write MIB/2 MiB, fork a child that closes its inherited copy and
 *                                       exits, wait for it, sleep 2 s, write the rest, close.
 *
 * Prints "ok" and exits 0 when every step worked.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char block[1 << 20];

static int fail(const char *what) {
  perror(what);
  return 1;
}

/** Writes MiB blocks [from, to) of the pattern; 0 on success. */
static int write_blocks(int fd, long from, long to) {
  for (long b = from; b < to; b++) {
    memset(block, (int)((b * 37 + 11) & 0xff), sizeof block);
    for (size_t done = 0; done < sizeof block;) {
      ssize_t n = write(fd, block + done, sizeof block - done);
      if (n < 0) return fail("write");
      done += (size_t)n;
    }
  }
  return 0;
}

static int wait_ok(pid_t child) {
  int status = 0;
  if (waitpid(child, &status, 0) < 0) return fail("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child: status %d\n", status);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const int exec_mode = argc == 4 && strcmp(argv[1], "exec") == 0;
  if (argc != 4 || (!exec_mode && strcmp(argv[1], "fork-close") != 0)) {
    fprintf(stderr, "usage: %s exec|fork-close FILE MIB\n", argv[0]);
    return 2;
  }
  const long mib = strtol(argv[3], NULL, 10);
  const int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | (exec_mode ? O_CLOEXEC : 0), 0644);
  if (fd < 0) return fail("open");
  if (write_blocks(fd, 0, exec_mode ? mib : mib / 2)) return 1;
  const pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    if (exec_mode) {
      usleep(500 * 1000);
      execl("/bin/true", "true", (char *)NULL);
      _exit(127);
    }
    _exit(close(fd) == 0 ? 0 : 1);
  }
  if (exec_mode) {
    if (close(fd) != 0) return fail("close");
    if (wait_ok(child)) return 1;
  } else {
    if (wait_ok(child)) return 1;
    sleep(2);
    if (write_blocks(fd, mib / 2, mib)) return 1;
    if (close(fd) != 0) return fail("close");
  }
  puts("ok");
  return 0;
}
