#pragma once
#include <node_api.h>
// Adds udpFastOpen/Put/Clear/Send/Stats/Close to the addon's exports (udp_fastpath.c).
void udp_fastpath_init(napi_env env, napi_value exports);
