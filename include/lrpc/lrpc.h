/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/lrpc.h - umbrella header: everything a server or client needs.
 */
#ifndef LRPC_LRPC_H
#define LRPC_LRPC_H

#include <lrpc/types.h>
#include <lrpc/loop.h>
#include <lrpc/server.h>
#include <lrpc/client.h>
#include <lrpc/rpc.h>

#endif
