// N-API argument helpers shared by the addon's files (fuse3.c, fd-pass.c).
#ifndef BUCKETMOUNT_NAPI_ARGS_H
#define BUCKETMOUNT_NAPI_ARGS_H
#include <node_api.h>

#define THROW(env, msg) do { napi_throw_error(env, NULL, msg); return NULL; } while (0)
#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
    return NULL;

#endif
