/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ipc-seam.h - what the IPC core offers the layers built on it.
 *
 * The RPC layer (runtime/rpc/) sees the core through the public headers
 * and this file only; nothing else of runtime/ipc/ is included there.  It
 * is held to the rules of a public header: every function documented,
 * stable names, no struct layouts.
 *
 * Threading: as for the server and its connections, everything here runs
 * in the thread that drives the server's loop.
 */
#ifndef LRPC_IPC_SEAM_H
#define LRPC_IPC_SEAM_H

#include <sys/uio.h>

#include <lrpc/client.h>
#include <lrpc/server.h>

/** A hook: @object is the connection or server it is attached to. */
typedef void (*lrpc__hook_fn)(void *object, void *data);

/**
 * Run @fn(@c, @data) once when @c starts closing, before the service's
 * closed callback: the place to abandon work done for that connection.
 * Hooks run in reverse order of adding; a pair may be added once per
 * connection use.  Returns 0, -EINVAL, or -ENOMEM.
 */
int lrpc__conn_add_close_hook(lrpc_conn *c, lrpc__hook_fn fn, void *data);
/**
 * Remove the hook added with the same @fn and @data (it will not run).
 * Returns 0, or -ENOENT if there is none (it ran already).
 */
int lrpc__conn_remove_close_hook(lrpc_conn *c, lrpc__hook_fn fn, void *data);

/**
 * Count an RPC call of @c that may be answered later (@delta 1: before
 * its handler runs) or that is done (@delta -1), against the server's
 * max_deferred_calls.  Returns 0, or -EBUSY (nothing counted) when @delta
 * is 1 and @c has that many already.
 */
int lrpc__conn_count_deferred(lrpc_conn *c, int delta);

/**
 * Run @fn(@s, @data) once when @s is freed (after every connection is
 * gone): the place for a layer to free what it attached to the server.
 * Returns 0, -EINVAL, or -ENOMEM.
 */
int lrpc__server_add_free_hook(lrpc_server *s, lrpc__hook_fn fn, void *data);

/**
 * A response (@event false) or event of @size bytes could not be sent
 * for @err (a negative errno): count it in the connection's statistics and
 * log the first such failure of the connection.  The core does this for
 * its own sends; a layer above calls it for messages that failed before
 * reaching the core (results it could not encode or fit).
 */
void lrpc__conn_note_undelivered(lrpc_conn *c, bool event, int err,
				 size_t size);

/**
 * Which handler the id table routes @id to: returns 1 and fills *ret_fn
 * and *ret_userdata (either may be NULL), or 0 if @id has no handler of
 * its own (the user selector hook and the fallback are not consulted).
 * -EINVAL for a NULL server.
 */
int lrpc__server_find_handler(lrpc_server *s, int32_t id,
			      lrpc_handler_fn *ret_fn, void **ret_userdata);

/** Which way a tapped message went (lrpc.Direction). */
typedef enum lrpc__tap_dir {
	LRPC__TAP_REQUEST = 0,
	LRPC__TAP_RESPONSE = 1,
	LRPC__TAP_EVENT = 2,
} lrpc__tap_dir;

/**
 * A tap: sees a copy of each message of @c, in @n_iov pieces of @size
 * bytes in all (core header first, padding excluded): requests as they
 * are dispatched, responses and events as they are handed to the
 * transport or queued.  Messages sent from inside the tap are not tapped.
 * The pieces are valid only during the call.
 */
typedef void (*lrpc__tap_fn)(lrpc_conn *c, lrpc__tap_dir dir,
			     const struct iovec *iov, size_t n_iov,
			     size_t size, void *data);

/**
 * Turn the server's tap on (@fn) or off (@fn NULL).  While it is off the
 * message paths pay one predictable branch.  Returns 0, or -EINVAL.
 */
int lrpc__server_set_tap(lrpc_server *s, lrpc__tap_fn fn, void *data);

/**
 * The connection's id: unique among the connections of its server for
 * the server's life, counting from 1 in order of acceptance; 0 for NULL.
 */
uint64_t lrpc__conn_get_id(lrpc_conn *c);

/** The server's lrpc_server_flags (lrpc_server_opts.flags); 0 for NULL. */
uint32_t lrpc__server_get_flags(lrpc_server *s);

/** Microseconds since lrpc_server_new() created @s; 0 for NULL. */
uint64_t lrpc__server_get_uptime_usec(lrpc_server *s);

/**
 * Wait up to @timeout_usec for the client's fd (lrpc_client_get_fd()) to
 * become readable: 1 if it did, 0 if the time ran out or a signal came,
 * or a negative errno.  The pull-style run_once of the core client and of
 * the RPC client both wait here.
 */
int lrpc__client_wait_readable(lrpc_client *c, uint64_t timeout_usec);

/** The service name @c was created for, and its options (after defaults):
 * what a reconnect needs to connect the same way again. */
const char *lrpc__client_get_name(lrpc_client *c);
const lrpc_client_opts *lrpc__client_get_opts(lrpc_client *c);

/**
 * Drop @c's connection because of error @r (a peer that broke the
 * protocol): its closed handler runs with the reason.  Returns -ENOTCONN.
 */
int lrpc__client_broken(lrpc_client *c, int r);

#endif
