// Opens sockets inside another network namespace from the calling thread, so one
// Node.js process can serve many pods' sockets (the lighter model than a process per pod).
// setns() applies to the calling thread only; we switch, create + bind, and switch back
// before returning, so no other JavaScript ever runs in the pod's namespace.
#define _GNU_SOURCE
#include <node_api.h>
#include <sched.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "udp_fastpath.h"

static int throw_errno(napi_env env, const char *what, int err) {
  char msg[768];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "E%d", err);
  napi_throw_error(env, code, msg);
  return -1;
}

// socketInNetns(nsPath, kind "tcp"|"udp", address, port, backlog) -> fd
static napi_value socket_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "socketInNetns(nsPath, kind, address, port[, backlog])"); return NULL; }
  char ns_path[512], kind[16], addr_s[64];
  size_t len;
  int32_t port = 0, backlog = 511;
  if (napi_get_value_string_utf8(env, argv[0], ns_path, sizeof ns_path, &len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], kind, sizeof kind, &len) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], addr_s, sizeof addr_s, &len) != napi_ok ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok) {
    napi_throw_type_error(env, NULL, "socketInNetns: bad argument types");
    return NULL;
  }
  if (argc >= 5) napi_get_value_int32(env, argv[4], &backlog);
  // "tcp-client": an unbound TCP socket in the namespace, for the caller to connect (probes).
  int is_client = strcmp(kind, "tcp-client") == 0;
  int is_tcp = is_client || strcmp(kind, "tcp") == 0;
  if (!is_tcp && strcmp(kind, "udp") != 0) { napi_throw_type_error(env, NULL, "kind must be tcp, udp or tcp-client"); return NULL; }

  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr_s, &sa.sin_addr) != 1) { napi_throw_type_error(env, NULL, "address must be IPv4"); return NULL; }

  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { throw_errno(env, "open /proc/thread-self/ns/net", errno); return NULL; }
  int target = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (target < 0) { int e = errno; close(self); throw_errno(env, ns_path, e); return NULL; }
  if (setns(target, CLONE_NEWNET) != 0) { int e = errno; close(self); close(target); throw_errno(env, "setns", e); return NULL; }

  int fd = socket(AF_INET, (is_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = 0;
  const char *step = "socket";
  if (fd < 0) err = errno;
  if (!err && !is_client) { int one = 1; setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); }
  if (!err && !is_client && bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { err = errno; step = "bind"; }
  if (!err && is_tcp && !is_client && listen(fd, backlog) != 0) { err = errno; step = "listen"; }

  // Always return to our own namespace, whatever happened.
  if (setns(self, CLONE_NEWNET) != 0) {
    int e = errno;
    close(self); close(target);
    if (fd >= 0) close(fd);
    throw_errno(env, "setns back to own namespace", e);
    return NULL;
  }
  close(self); close(target);
  if (err) { if (fd >= 0) close(fd); throw_errno(env, step, err); return NULL; }

  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// createUtsNamespace(hostname) -> fd: a new UTS namespace with that hostname, held open by
// the returned (close-on-exec) descriptor — the namespace lives as long as the fd, so nothing
// has to be mounted or unmounted. The calling thread returns to its own namespace.
static napi_value create_uts_namespace(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[65];
  size_t hlen;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "createUtsNamespace(hostname)");
    return NULL;
  }
  int self = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC);
  if (self < 0) { throw_errno(env, "open /proc/thread-self/ns/uts", errno); return NULL; }
  if (unshare(CLONE_NEWUTS) != 0) { int e = errno; close(self); throw_errno(env, "unshare(CLONE_NEWUTS)", e); return NULL; }
  int err = 0, fd = -1;
  const char *step = "sethostname";
  if (sethostname(host, hlen) != 0) err = errno;
  if (!err) {
    fd = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { err = errno; step = "open the new UTS namespace"; }
  }
  if (setns(self, CLONE_NEWUTS) != 0) {
    int e = errno;
    close(self);
    if (fd >= 0) close(fd);
    throw_errno(env, "setns back to own UTS namespace", e);
    return NULL;
  }
  close(self);
  if (err) { throw_errno(env, step, err); return NULL; }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "socketInNetns", NAPI_AUTO_LENGTH, socket_in_netns, NULL, &fn);
  napi_set_named_property(env, exports, "socketInNetns", fn);
  napi_create_function(env, "createUtsNamespace", NAPI_AUTO_LENGTH, create_uts_namespace, NULL, &fn);
  napi_set_named_property(env, exports, "createUtsNamespace", fn);
  udp_fastpath_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
