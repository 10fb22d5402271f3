// The cluster DNS responder's UDP fast path: repeated questions answered from a reply cache
// without entering JavaScript. Node's dgram costs one JS callback, one Buffer and one send
// request per datagram (about 50k datagrams per CPU-second here); this reads and writes in
// batches (recvmmsg/sendmmsg) on the event loop's thread, from a uv_poll on the socket.
//
// JavaScript stays in charge of every answer: it fills the cache (put: the query's bytes after
// its ID -> the reply), empties it when the zone changes (clear), and gets every other datagram
// (onMiss) to answer the long way, replying through send(). Hits are only ever copies of replies
// JavaScript made, with the query's ID patched in. When the query log is on, onHits gets one
// record per hit (16 bytes: tag u32, id u16, port u16, IPv4 address 4 bytes, duration ns u32;
// little-endian) once per batch, so the log stays complete.
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "udp_fastpath.h"

#define FP_BATCH 64
#define FP_RBUF 65536  // any UDP datagram fits: nothing is truncated
#define FP_ROUNDS 16   // batches per readiness callback before yielding to the event loop
#define FP_REC 16
#define FP_MAX_KEY 510 // cacheable queries are at most 512 bytes (header included)
#define FP_RCODES 32

typedef struct fp_entry {
  struct fp_entry *next;
  uint32_t hash, tag;
  uint16_t klen, rlen;
  uint8_t rcode;
  uint8_t data[]; // key (klen) then reply (rlen)
} fp_entry;

typedef struct fastpath {
  uv_poll_t poll;
  napi_env env;
  int fd, closed;
  napi_ref on_miss, on_hits;
  napi_async_context actx;
  fp_entry **buckets;
  uint32_t mask, count, max;
  double hits, send_errors, rcodes[FP_RCODES];
  uint8_t *rbuf;
  struct mmsghdr rm[FP_BATCH], sm[FP_BATCH];
  struct iovec riov[FP_BATCH], siov[FP_BATCH][2];
  struct sockaddr_in raddr[FP_BATCH];
  uint8_t sid[FP_BATCH][2];
  fp_entry *hit[FP_BATCH];
  int hit_from[FP_BATCH];
} fastpath;

typedef struct { fastpath *fp; } fp_handle;

static uint32_t fnv1a(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 16777619u; }
  return h;
}

static fp_entry *lookup(fastpath *fp, const uint8_t *key, size_t klen, uint32_t h) {
  for (fp_entry *e = fp->buckets[h & fp->mask]; e; e = e->next)
    if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) return e;
  return NULL;
}

static void clear_cache(fastpath *fp) {
  for (uint32_t i = 0; i <= fp->mask; i++) {
    fp_entry *e = fp->buckets[i];
    while (e) { fp_entry *n = e->next; free(e); e = n; }
    fp->buckets[i] = NULL;
  }
  fp->count = 0;
}

static void on_closed(uv_handle_t *h) {
  fastpath *fp = h->data;
  close(fp->fd);
  clear_cache(fp);
  free(fp->buckets);
  free(fp->rbuf);
  if (fp->on_miss) napi_delete_reference(fp->env, fp->on_miss);
  if (fp->on_hits) napi_delete_reference(fp->env, fp->on_hits);
  napi_async_destroy(fp->env, fp->actx);
  free(fp);
}

static void fp_close(fp_handle *hd) {
  fastpath *fp = hd->fp;
  if (!fp) return;
  hd->fp = NULL;
  fp->closed = 1;
  uv_poll_stop(&fp->poll);
  uv_close((uv_handle_t *)&fp->poll, on_closed);
}

// JavaScript's exceptions stay there: the handlers catch their own, and one that escapes must
// not leave an exception pending in native code.
static void call_js(fastpath *fp, napi_ref ref, size_t argc, napi_value *argv) {
  napi_env env = fp->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || !fn) return;
  napi_get_global(env, &recv); // napi_make_callback wants an object as `this`
  if (napi_make_callback(env, fp->actx, recv, fn, argc, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) { napi_value e; napi_get_and_clear_last_exception(env, &e); }
  }
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void put_le(uint8_t *p, uint32_t v, int n) { for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  fastpath *fp = h->data;
  if (fp->closed || status < 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(fp->env, &scope);
  for (int round = 0; round < FP_ROUNDS && !fp->closed; round++) {
    for (int i = 0; i < FP_BATCH; i++) {
      fp->riov[i].iov_base = fp->rbuf + (size_t)i * FP_RBUF;
      fp->riov[i].iov_len = FP_RBUF;
      memset(&fp->rm[i].msg_hdr, 0, sizeof fp->rm[i].msg_hdr);
      fp->rm[i].msg_hdr.msg_name = &fp->raddr[i];
      fp->rm[i].msg_hdr.msg_namelen = sizeof fp->raddr[i];
      fp->rm[i].msg_hdr.msg_iov = &fp->riov[i];
      fp->rm[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fp->fd, fp->rm, FP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    uint64_t t0 = fp->on_hits ? now_ns() : 0;
    int nhit = 0, nmiss = 0, miss[FP_BATCH];
    for (int i = 0; i < n; i++) {
      const uint8_t *b = fp->riov[i].iov_base;
      size_t len = fp->rm[i].msg_len;
      // As the dgram path: no reply to port 0.
      if (fp->raddr[i].sin_family != AF_INET || fp->raddr[i].sin_port == 0) continue;
      fp_entry *e = NULL;
      if (len >= 12 && len - 2 <= FP_MAX_KEY && !(b[2] & 0x80) && fp->count) e = lookup(fp, b + 2, len - 2, fnv1a(b + 2, len - 2));
      if (!e) { miss[nmiss++] = i; continue; }
      fp->sid[nhit][0] = b[0];
      fp->sid[nhit][1] = b[1];
      fp->siov[nhit][0].iov_base = fp->sid[nhit];
      fp->siov[nhit][0].iov_len = 2;
      fp->siov[nhit][1].iov_base = e->data + e->klen + 2;
      fp->siov[nhit][1].iov_len = e->rlen - 2;
      memset(&fp->sm[nhit].msg_hdr, 0, sizeof fp->sm[nhit].msg_hdr);
      fp->sm[nhit].msg_hdr.msg_name = &fp->raddr[i];
      fp->sm[nhit].msg_hdr.msg_namelen = sizeof fp->raddr[i];
      fp->sm[nhit].msg_hdr.msg_iov = fp->siov[nhit];
      fp->sm[nhit].msg_hdr.msg_iovlen = 2;
      fp->hit[nhit] = e;
      fp->hit_from[nhit] = i;
      nhit++;
    }
    if (nhit) {
      int sent = 0;
      while (sent < nhit) {
        int r = sendmmsg(fp->fd, fp->sm + sent, nhit - sent, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { fp->send_errors += nhit - sent; break; } // a full send buffer drops, as UDP does
        sent += r;
      }
      fp->hits += nhit;
      for (int k = 0; k < nhit; k++) fp->rcodes[fp->hit[k]->rcode]++;
      // The log's records go out before any miss runs JavaScript that could empty the cache.
      if (fp->on_hits) {
        uint32_t dur = (uint32_t)(now_ns() - t0);
        void *data;
        napi_value buf, count;
        if (napi_create_buffer(fp->env, (size_t)nhit * FP_REC, &data, &buf) == napi_ok) {
          uint8_t *p = data;
          for (int k = 0; k < nhit; k++, p += FP_REC) {
            int i = fp->hit_from[k];
            put_le(p, fp->hit[k]->tag, 4);
            p[4] = fp->sid[k][0]; p[5] = fp->sid[k][1];
            put_le(p + 6, ntohs(fp->raddr[i].sin_port), 2);
            memcpy(p + 8, &fp->raddr[i].sin_addr.s_addr, 4);
            put_le(p + 12, dur, 4);
          }
          napi_create_int32(fp->env, nhit, &count);
          napi_value argv[2] = { buf, count };
          call_js(fp, fp->on_hits, 2, argv);
        }
      }
    }
    for (int m = 0; m < nmiss && !fp->closed; m++) {
      int i = miss[m];
      napi_handle_scope inner;
      napi_open_handle_scope(fp->env, &inner);
      char addr[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &fp->raddr[i].sin_addr, addr, sizeof addr);
      napi_value argv[3];
      if (napi_create_buffer_copy(fp->env, fp->rm[i].msg_len, fp->riov[i].iov_base, NULL, &argv[0]) == napi_ok &&
          napi_create_string_utf8(fp->env, addr, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
          napi_create_int32(fp->env, ntohs(fp->raddr[i].sin_port), &argv[2]) == napi_ok)
        call_js(fp, fp->on_miss, 3, argv);
      napi_close_handle_scope(fp->env, inner);
    }
    if (n < FP_BATCH) break;
  }
  napi_close_handle_scope(fp->env, scope);
}

static fastpath *get_fp(napi_env env, napi_value v) {
  fp_handle *hd = NULL;
  if (napi_get_value_external(env, v, (void **)&hd) != napi_ok || !hd) { napi_throw_type_error(env, NULL, "not a UDP fast path handle"); return NULL; }
  if (!hd->fp) { napi_throw_error(env, "ECLOSED", "UDP fast path is closed"); return NULL; }
  return hd->fp;
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  fp_handle *hd = data;
  fp_close(hd);
  free(hd);
}

// udpFastOpen(fd, maxEntries, onMiss(msg, address, port), onHits(records, n) | null) -> handle.
// The fd (a bound AF_INET UDP socket) is the fast path's from then on: close() closes it.
static napi_value fast_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1, max = 0;
  napi_valuetype t3 = napi_undefined;
  if (argc >= 4) napi_typeof(env, argv[3], &t3);
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &max) != napi_ok || fd < 0 || max < 1) {
    napi_throw_type_error(env, NULL, "udpFastOpen(fd, maxEntries, onMiss, onHits|null)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { napi_throw_error(env, NULL, "no event loop"); return NULL; }
  fastpath *fp = calloc(1, sizeof *fp);
  fp_handle *hd = calloc(1, sizeof *hd);
  uint32_t nb = 1024;
  while (nb < (uint32_t)max * 2 && nb < (1u << 20)) nb <<= 1;
  if (fp) { fp->buckets = calloc(nb, sizeof *fp->buckets); fp->rbuf = malloc((size_t)FP_BATCH * FP_RBUF); }
  if (!fp || !hd || !fp->buckets || !fp->rbuf) {
    if (fp) { free(fp->buckets); free(fp->rbuf); }
    free(fp); free(hd);
    napi_throw_error(env, "ENOMEM", "udpFastOpen: out of memory");
    return NULL;
  }
  fp->env = env;
  fp->fd = fd;
  fp->mask = nb - 1;
  fp->max = (uint32_t)max;
  napi_create_reference(env, argv[2], 1, &fp->on_miss);
  if (t3 == napi_function) napi_create_reference(env, argv[3], 1, &fp->on_hits);
  napi_value name;
  napi_create_string_utf8(env, "klab-dns:udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &fp->actx);
  // Room for bursts, as the dgram path asks (the kernel caps it at net.core.rmem_max).
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int r = uv_poll_init(loop, &fp->poll, fd);
  if (r == 0) { fp->poll.data = fp; r = uv_poll_start(&fp->poll, UV_READABLE, on_readable); }
  if (r != 0) {
    // The fd stays the caller's when we could not take it.
    napi_delete_reference(env, fp->on_miss);
    if (fp->on_hits) napi_delete_reference(env, fp->on_hits);
    napi_async_destroy(env, fp->actx);
    free(fp->buckets); free(fp->rbuf); free(fp); free(hd);
    char msg[128];
    snprintf(msg, sizeof msg, "udpFastOpen: uv_poll: %s", uv_strerror(r));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  hd->fp = fp;
  napi_value out;
  napi_create_external(env, hd, finalize_handle, NULL, &out);
  return out;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is = false;
  napi_is_buffer(env, v, &is);
  return is && napi_get_buffer_info(env, v, data, len) == napi_ok;
}

// udpFastPut(handle, key, reply, rcode, tag): key is the query after its 2-byte ID.
static napi_value fast_put(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) { napi_throw_type_error(env, NULL, "udpFastPut(handle, key, reply, rcode, tag)"); return NULL; }
  fastpath *fp = get_fp(env, argv[0]);
  if (!fp) return NULL;
  void *key, *reply;
  size_t klen, rlen;
  uint32_t rcode = 0, tag = 0;
  if (!get_buffer(env, argv[1], &key, &klen) || !get_buffer(env, argv[2], &reply, &rlen) ||
      napi_get_value_uint32(env, argv[3], &rcode) != napi_ok || napi_get_value_uint32(env, argv[4], &tag) != napi_ok) {
    napi_throw_type_error(env, NULL, "udpFastPut(handle, key: Buffer, reply: Buffer, rcode, tag)");
    return NULL;
  }
  if (klen < 10 || klen > FP_MAX_KEY || rlen < 12 || rlen > 65535) return NULL; // not cacheable: ignored
  uint32_t h = fnv1a(key, klen);
  if (lookup(fp, key, klen, h)) return NULL;
  if (fp->count >= fp->max) clear_cache(fp); // bounded: a flood of distinct names starts it over
  fp_entry *e = malloc(sizeof *e + klen + rlen);
  if (!e) return NULL;
  e->hash = h;
  e->tag = tag;
  e->klen = (uint16_t)klen;
  e->rlen = (uint16_t)rlen;
  e->rcode = (uint8_t)(rcode < FP_RCODES ? rcode : FP_RCODES - 1);
  memcpy(e->data, key, klen);
  memcpy(e->data + klen, reply, rlen);
  e->next = fp->buckets[h & fp->mask];
  fp->buckets[h & fp->mask] = e;
  fp->count++;
  return NULL;
}

static napi_value fast_clear(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  fastpath *fp = argc ? get_fp(env, argv[0]) : NULL;
  if (fp) clear_cache(fp);
  return NULL;
}

// udpFastSend(handle, msg, address, port): one reply the long way (JavaScript's answers).
static napi_value fast_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "udpFastSend(handle, msg, address, port)"); return NULL; }
  fastpath *fp = get_fp(env, argv[0]);
  if (!fp) return NULL;
  void *data;
  size_t len;
  char addr[64];
  size_t alen;
  int32_t port;
  if (!get_buffer(env, argv[1], &data, &len) || napi_get_value_string_utf8(env, argv[2], addr, sizeof addr, &alen) != napi_ok ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok) {
    napi_throw_type_error(env, NULL, "udpFastSend(handle, msg: Buffer, address: string, port: number)");
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) { napi_throw_type_error(env, NULL, "udpFastSend: address must be IPv4"); return NULL; }
  ssize_t r;
  do r = sendto(fp->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa); while (r < 0 && errno == EINTR);
  if (r < 0) fp->send_errors++;
  return NULL;
}

// udpFastStats(handle) -> { port, entries, hits, sendErrors, rcodes: number[32] }
static napi_value fast_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  fastpath *fp = argc ? get_fp(env, argv[0]) : NULL;
  if (!fp) return NULL;
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int port = getsockname(fp->fd, (struct sockaddr *)&sa, &sl) == 0 ? ntohs(sa.sin_port) : 0;
  napi_value out, v, arr;
  napi_create_object(env, &out);
  napi_create_int32(env, port, &v); napi_set_named_property(env, out, "port", v);
  napi_create_uint32(env, fp->count, &v); napi_set_named_property(env, out, "entries", v);
  napi_create_double(env, fp->hits, &v); napi_set_named_property(env, out, "hits", v);
  napi_create_double(env, fp->send_errors, &v); napi_set_named_property(env, out, "sendErrors", v);
  napi_create_array_with_length(env, FP_RCODES, &arr);
  for (uint32_t i = 0; i < FP_RCODES; i++) { napi_create_double(env, fp->rcodes[i], &v); napi_set_element(env, arr, i, v); }
  napi_set_named_property(env, out, "rcodes", arr);
  return out;
}

static napi_value fast_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  fp_handle *hd = NULL;
  if (argc && napi_get_value_external(env, argv[0], (void **)&hd) == napi_ok && hd) fp_close(hd);
  return NULL;
}

void udp_fastpath_init(napi_env env, napi_value exports) {
  struct { const char *name; napi_callback cb; } fns[] = {
    { "udpFastOpen", fast_open }, { "udpFastPut", fast_put }, { "udpFastClear", fast_clear },
    { "udpFastSend", fast_send }, { "udpFastStats", fast_stats }, { "udpFastClose", fast_close },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
