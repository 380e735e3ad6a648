/*
 * LD_PRELOAD helper for integration tests.
 *
 * Orthanc 1.10.1 has no bind-address option: its HTTP server and DICOM SCP always listen
 * on every interface. Tests must only listen on loopback, so this library wraps bind():
 *   - AF_INET  bound to INADDR_ANY   (0.0.0.0) becomes 127.0.0.1
 *   - AF_INET6 bound to in6addr_any  (::)      becomes ::1
 * Every other bind() goes through unchanged.
 *
 * Optional orphan guard: when LOOPBACK_BIND_PARENT_PID is set, the process asks the kernel
 * to SIGKILL it when its parent dies (PR_SET_PDEATHSIG), so a crashed test runner never
 * leaves a server behind. The variable is removed so grandchildren do not inherit it.
 *
 * Build: cc -shared -fPIC -O2 -o libloopback_bind.so loopback_bind.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static bind_fn real_bind_ptr;

static bind_fn real_bind(void) {
  bind_fn fn = __atomic_load_n(&real_bind_ptr, __ATOMIC_ACQUIRE);
  if (fn == NULL) {
    fn = (bind_fn)dlsym(RTLD_NEXT, "bind");
    __atomic_store_n(&real_bind_ptr, fn, __ATOMIC_RELEASE);
  }
  return fn;
}

__attribute__((constructor)) static void loopback_bind_init(void) {
  (void)real_bind();

  const char *parent = getenv("LOOPBACK_BIND_PARENT_PID");
  if (parent != NULL && parent[0] != '\0') {
    char *end = NULL;
    long expected = strtol(parent, &end, 10);
    unsetenv("LOOPBACK_BIND_PARENT_PID");
    if (end != NULL && *end == '\0' && expected > 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      /* The parent may have died before prctl() took effect. */
      if ((long)getppid() != expected) raise(SIGKILL);
    }
  }
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  bind_fn fn = real_bind();
  if (fn == NULL) {
    errno = ENOSYS;
    return -1;
  }

  if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in in4;
    memcpy(&in4, addr, sizeof in4);
    if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
      in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      return fn(fd, (const struct sockaddr *)&in4, (socklen_t)sizeof in4);
    }
  } else if (addr != NULL && addr->sa_family == AF_INET6 &&
             len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, addr, sizeof in6);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
      in6.sin6_addr = in6addr_loopback;
      return fn(fd, (const struct sockaddr *)&in6, (socklen_t)sizeof in6);
    }
  }

  return fn(fd, addr, len);
}
