/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/types.h - types shared by the server, the client and the loop.
 *
 * Every public lrpc call returns 0 (or a non-negative count) on success and a
 * negative errno value on failure.  errno itself is never part of the API.
 */
#ifndef LRPC_TYPES_H
#define LRPC_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LRPC_EXPORT __attribute__((visibility("default")))
#else
#define LRPC_EXPORT
#endif

/** Version of the lrpc wire protocol spoken by this library. */
#define LRPC_PROTOCOL_VERSION 1

/** Longest service name accepted by lrpc_server_new() and the clients. */
#define LRPC_NAME_MAX 64

/** Default negotiated maximum message size (header included): 1 MiB. */
#define LRPC_DEFAULT_MAX_MSG_SIZE (1024u * 1024u)

/** Largest maximum message size a server or client will ever negotiate. */
#define LRPC_MAX_MSG_SIZE_LIMIT (256u * 1024u * 1024u)

/*
 * Time.  Every timeout, deadline and duration in the public API is a
 * uint64_t count of microseconds (CLOCK_MONOTONIC).  In calls, 0 means "do
 * not wait" and two values are special; in option structs a member left 0
 * takes its documented default, like every other member.
 */
/** Wait without limit. */
#define LRPC_TIMEOUT_INFINITE UINT64_MAX
/**
 * The object's default: LRPC_DEFAULT_TIMEOUT_USEC for lrpc_client calls,
 * lrpc_rpc_client_set_default_timeout() for RPC calls.
 */
#define LRPC_TIMEOUT_DEFAULT (UINT64_MAX - 1)
/** Default timeout of the calls of lrpc_client and lrpc_rpc_client: 25 s. */
#define LRPC_DEFAULT_TIMEOUT_USEC (UINT64_C(25) * 1000000u)
/** Microseconds per millisecond and per second, for readable constants. */
#define LRPC_USEC_PER_MSEC UINT64_C(1000)
#define LRPC_USEC_PER_SEC UINT64_C(1000000)

/**
 * Fd passing (since 1.3): the default most fds one message may carry, the
 * default most fds a connection holds received and not yet taken or
 * released, and the hard limit per message (the kernel's SCM_MAX_FD).
 * An option set to LRPC_NO_FDS turns fd passing off for that side.
 */
#define LRPC_DEFAULT_MAX_FDS_PER_MSG 16u
#define LRPC_DEFAULT_MAX_FDS_PER_CONN 64u
#define LRPC_MAX_FDS_PER_MSG 253u
#define LRPC_NO_FDS UINT32_MAX

/** Most iovec entries accepted by the *_sendv() calls. */
#define LRPC_IOV_MAX 64

/**
 * Transports.  The numeric values travel in the handshake and never change.
 */
typedef enum lrpc_transport {
	/** Let the library pick the fastest transport both sides support. */
	LRPC_TRANSPORT_BEST = 0,
	/** Unix stream sockets: one for requests/responses, one for events. */
	LRPC_TRANSPORT_SOCKET = 1,
	/** Shared memory rings in a sealed memfd (added by the shm transport). */
	LRPC_TRANSPORT_SHM = 2,
	_LRPC_TRANSPORT_MAX
} lrpc_transport;

/**
 * The header every lrpc message starts with (little-endian, host order on
 * Linux, 24 bytes, 8-byte aligned).
 *
 * The application fills @size (the whole message, header included) and @id.
 * In responses the server's @error is 0 or a negative errno; requests leave
 * it 0.  @flags and @seq belong to the library: whatever the application puts
 * there is replaced on send.
 */
typedef struct lrpc_msg_header {
	uint32_t size;  /**< total size in bytes, this header included */
	int32_t id;     /**< application message id; selects the handler */
	int32_t error;  /**< responses: 0 or negative errno */
	uint32_t flags; /**< library-owned: message kind, fd count */
	uint64_t seq;   /**< library-owned: request sequence, echoed in responses */
} lrpc_msg_header;

/**
 * Credentials of the process at the other end of a connection, read from the
 * kernel (SO_PEERCRED, SO_PEERGROUPS) when the connection was made.  They do
 * not change if the peer later changes its ids or passes its socket on.
 */
typedef struct lrpc_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/** Number of valid entries in @groups (the supplementary groups). */
	uint32_t n_groups;
	/** Supplementary groups; NULL when @n_groups is 0.  Owned by lrpc. */
	const gid_t *groups;
} lrpc_peer;

/** Log levels given to the log hook, as in syslog(3). */
typedef enum lrpc_log_level {
	LRPC_LOG_ERR = 3,
	LRPC_LOG_WARNING = 4,
	LRPC_LOG_NOTICE = 5,
	LRPC_LOG_INFO = 6,
	LRPC_LOG_DEBUG = 7
} lrpc_log_level;

/**
 * A log hook receives every message the library wants to say.  The library
 * never prints on its own: without a hook messages are dropped.
 */
typedef void (*lrpc_log_fn)(lrpc_log_level level, const char *msg,
			    void *userdata);

/**
 * Install the process-wide log hook (NULL removes it) and the highest level
 * passed to it.  Not thread-safe against concurrent logging; call it once at
 * start-up.
 */
LRPC_EXPORT void lrpc_set_log_hook(lrpc_log_fn fn, lrpc_log_level max_level,
				   void *userdata);

/** Name of a transport ("socket", "shm", "best"), or NULL if unknown. */
LRPC_EXPORT const char *lrpc_transport_name(lrpc_transport t);

/** Library version as a string ("1.0.0"; the VERSION file). */
LRPC_EXPORT const char *lrpc_version(void);

#ifdef __cplusplus
}
#endif

#endif
