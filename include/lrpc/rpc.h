/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc/rpc.h - typed remote procedure calls on top of the IPC core.
 *
 * Applications rarely call this header's functions directly: lrpc-gen turns
 * an IDL file into typed stubs (kv_store_get(), kv_store_serve(), ...) that
 * call the generic functions below with static descriptor tables.  What an
 * application does use from here:
 *
 *  - lrpc_arena: where decoded variable-size data (strings, bytes, lists,
 *    maps, optional values) lives; nothing is freed per field.
 *  - lrpc_rpc_client: wraps an lrpc_client; many calls in flight, replies
 *    matched by call id, events delivered to generated listener structs.
 *  - lrpc_rpc_call: a request being served; a handler may keep it and reply
 *    later (deferred reply).
 *  - lrpc_rpc_error: the detail of a failed call.
 *
 * Return values follow lrpc's rule (0 or -errno), with the one exception of
 * generated stubs and lrpc_rpc_client_call(): they return the POSITIVE value
 * of a typed IDL error (KV_ERROR_NOT_FOUND) raised by the server.
 *
 * Errors common to RPC calls, besides the client's (see client.h):
 *  -EOPNOTSUPP       the server has no such interface or method ("no such
 *                    method"); the connection stays up.
 *  -EPROTONOSUPPORT  the method, or a value in the call (an enum value,
 *                    a union case, a parameter not at its default), is
 *                    newer than the interface version negotiated with the
 *                    peer: failed where it was found (locally, nothing
 *                    sent; or by the server for results), with a message.
 *  -EPROTO           the peer's interface hash differs: built from a
 *                    diverging IDL file; the error message names the
 *                    first difference (docs/wire.md).
 *  -EBADMSG          a message failed to decode (bad data from the peer).
 *  -ENOBUFS          the arena is full and may not grow.
 *
 * Wire format: docs/wire.md, section "RPC messages".  User guide: docs/rpc.md.
 *
 * Threading: as for the objects they wrap.  An lrpc_rpc_client is used from
 * one thread at a time; calls and servers belong to their loop's thread.
 */
#ifndef LRPC_RPC_H
#define LRPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lrpc/client.h>
#include <lrpc/server.h>
#include <lrpc/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Version of the contract between generated code and this runtime (the
 * descriptor tables below).  Generated headers check it at compile time.
 */
#define LRPC_RPC_ABI_VERSION 1

/* ------------------------------------------------------------------------ */
/* Arena                                                                    */
/* ------------------------------------------------------------------------ */

/** lrpc_arena_init(): no growth limit beyond the caller's buffer. */
#define LRPC_ARENA_UNLIMITED SIZE_MAX

/**
 * A bump allocator for decoded data.  The caller provides the first buffer
 * (it may be on the stack, or NULL/0); when it is full the arena mallocs
 * further chunks, up to @max_heap bytes in all, and frees them on reset or
 * done.  Everything a decode puts here stays valid until the next
 * lrpc_arena_reset() or lrpc_arena_done().
 *
 * The members are private; the struct is public only so that an arena can
 * live on the stack.  Not thread-safe.
 */
typedef struct lrpc_arena {
	uint8_t *buf;        /* current chunk */
	size_t cap;          /* its size */
	size_t used;         /* bytes used in it */
	uint8_t *first;      /* the caller's buffer */
	size_t first_cap;
	void *chunks;        /* malloc'd chunks, newest first */
	size_t heap;         /* bytes malloc'd so far */
	size_t max_heap;     /* limit for @heap */
} lrpc_arena;

/**
 * Set up @a over @buf (@size bytes, may be NULL/0) that may additionally
 * malloc up to @max_heap bytes (0: never, LRPC_ARENA_UNLIMITED: no limit).
 * @buf stays owned by the caller and must outlive the arena's use.
 */
LRPC_EXPORT void lrpc_arena_init(lrpc_arena *a, void *buf, size_t size,
				 size_t max_heap);
/**
 * Allocate @size bytes aligned to @align (a power of two up to 16) into
 * *ret, zero-filled.  Errors: -EINVAL, -ENOBUFS (the buffer is full and the
 * heap limit reached), -ENOMEM.
 */
LRPC_EXPORT int lrpc_arena_alloc(lrpc_arena *a, size_t size, size_t align,
				 void **ret);
/** Forget everything allocated (frees the heap chunks); keeps the buffer. */
LRPC_EXPORT void lrpc_arena_reset(lrpc_arena *a);
/** Free the heap chunks; the arena must be initialised again before use. */
LRPC_EXPORT void lrpc_arena_done(lrpc_arena *a);
/**
 * Take the received fd in *@fd (a field, parameter, result or element of
 * IDL type `fd` that was decoded into @a): it is the caller's from now on,
 * and *@fd is set to -1.  Received fds belong to the arena they were
 * decoded into until taken: lrpc_arena_reset() and lrpc_arena_done() close
 * the others (docs/idl.md, "fd").  Returns the fd, or -EINVAL, -EBADF
 * (*@fd is -1: taken already), -ENOENT (not an fd of this arena).
 */
LRPC_EXPORT int lrpc_arena_take_fd(lrpc_arena *a, int *fd);
/**
 * Give @fd to @a, which closes it at its next lrpc_arena_reset() or
 * lrpc_arena_done() (unless taken back with lrpc_arena_take_fd()).  For a
 * handler whose result is an fd of its own to close once the reply is
 * sent: fds in results and arguments are borrowed, never closed by the
 * library otherwise.  Returns 0, or -EINVAL, -ENOMEM (then @fd is still
 * the caller's).
 */
LRPC_EXPORT int lrpc_arena_add_fd(lrpc_arena *a, int fd);
/** Bytes handed out since the last reset (including alignment padding). */
LRPC_EXPORT size_t lrpc_arena_get_used(const lrpc_arena *a);

/* ------------------------------------------------------------------------ */
/* C representation of IDL types                                            */
/* ------------------------------------------------------------------------ */

/** IDL `bytes`: @len octets at @data (decoded: in the arena). */
typedef struct lrpc_bytes {
	const uint8_t *data;
	size_t len;
} lrpc_bytes;

/** IDL `T[]`: @count elements of T's C type at @items. */
typedef struct lrpc_list {
	const void *items;
	size_t count;
} lrpc_list;

/** IDL `map<K, V>`: @count keys and as many values, in two arrays. */
typedef struct lrpc_map {
	const void *keys;
	const void *values;
	size_t count;
} lrpc_map;

/* ------------------------------------------------------------------------ */
/* Descriptor tables (written by lrpc-gen, read by the runtime)             */
/* ------------------------------------------------------------------------ */

/** Kinds of lrpc_rpc_type.  Values are part of the generator ABI. */
typedef enum lrpc_rpc_kind {
	LRPC_RPC_BOOL = 1,
	LRPC_RPC_I8 = 2,
	LRPC_RPC_I16 = 3,
	LRPC_RPC_I32 = 4,
	LRPC_RPC_I64 = 5,
	LRPC_RPC_U8 = 6,
	LRPC_RPC_U16 = 7,
	LRPC_RPC_U32 = 8,
	LRPC_RPC_U64 = 9,
	LRPC_RPC_F32 = 10,
	LRPC_RPC_F64 = 11,
	LRPC_RPC_STRING = 12,   /* const char *, NUL-terminated UTF-8 */
	LRPC_RPC_BYTES = 13,    /* lrpc_bytes */
	LRPC_RPC_LIST = 14,     /* lrpc_list of @inner */
	LRPC_RPC_ARRAY = 15,    /* @max elements of @inner, inline */
	LRPC_RPC_OPTIONAL = 16, /* const inner *, NULL when absent (string:
				 * the const char * itself) */
	LRPC_RPC_ENUM = 17,     /* C enum stored as @inner (an integer) */
	LRPC_RPC_STRUCT = 18,   /* @fields */
	LRPC_RPC_UNION = 19,    /* uint32_t tag, then the case at @value_offset */
	LRPC_RPC_MAP = 20,      /* lrpc_map of @inner -> @value */
	LRPC_RPC_FD = 21,       /* int, a file descriptor (since 1.3);
				 * @max: the lrpc_rpc_fd_kind checked */
	_LRPC_RPC_KIND_MAX
} lrpc_rpc_kind;

/**
 * What an IDL `fd @kind(...)` must be, checked on receive (a mismatch is
 * -EBADMSG, as any other bad value): LRPC_RPC_FD's @max.
 */
typedef enum lrpc_rpc_fd_kind {
	LRPC_RPC_FD_ANY = 0,    /**< no check */
	LRPC_RPC_FD_MEMFD = 1,  /**< a memfd (sealable shared memory) */
	LRPC_RPC_FD_SOCKET = 2, /**< a socket */
	LRPC_RPC_FD_PIPE = 3,   /**< a pipe or FIFO */
	LRPC_RPC_FD_FILE = 4,   /**< a regular file (memfds included) */
} lrpc_rpc_fd_kind;

typedef struct lrpc_rpc_type lrpc_rpc_type;

/**
 * lrpc_rpc_field.offset of a retired struct field (IDL `@removed`): it
 * keeps its place on the wire, encoded as its type's default and decoded
 * (checked) and dropped, and has no member in the C struct.
 */
#define LRPC_RPC_FIELD_RETIRED UINT32_MAX

/**
 * Marks a generated function of a `@deprecated` method or event: using it
 * makes the compiler warn.
 */
#define LRPC_DEPRECATED(msg) __attribute__((deprecated(msg)))

/** A struct field, a union case or a parameter. */
typedef struct lrpc_rpc_field {
	const lrpc_rpc_type *type;
	uint32_t offset;  /**< in the C struct, or LRPC_RPC_FIELD_RETIRED */
	uint16_t ordinal; /**< field ordinal or union tag */
	uint16_t since;   /**< interface version that added it */
	const char *name; /**< IDL name, for messages */
} lrpc_rpc_field;

/**
 * One IDL type.  Structs list their fields in wire order: by (since,
 * ordinal), so that an older peer's fields are a prefix.
 */
struct lrpc_rpc_type {
	uint16_t kind;   /**< lrpc_rpc_kind */
	uint16_t flags;  /**< 0 */
	uint32_t size;   /**< sizeof the C representation */
	uint32_t align;  /**< _Alignof the C representation */
	uint32_t max;    /**< @max (0: none); ARRAY: the element count */
	const lrpc_rpc_type *inner; /**< element, key, enum base, union tag */
	const lrpc_rpc_type *value; /**< MAP: the value type */
	/**
	 * STRUCT fields, UNION cases (by tag); ENUM: NULL (every value is
	 * of version 1, names unknown; older generators), or one entry per
	 * value in @values order giving its @name and @since (other members
	 * 0).
	 */
	const lrpc_rpc_field *fields;
	uint32_t n_fields;
	uint32_t value_offset;        /**< UNION: offset of the case storage */
	const int64_t *values;        /**< ENUM: the valid values, sorted */
	uint32_t n_values;
	const char *name;             /**< "kv.Entry", for messages */
};

/** Method kinds. */
typedef enum lrpc_rpc_method_kind {
	LRPC_RPC_CALL = 1,
	LRPC_RPC_ONEWAY = 2,
	LRPC_RPC_EVENT = 3,
	/** A call answered by a stream of items (@reply: the item) then an
	 * end (since 1.3). */
	LRPC_RPC_STREAM = 4,
} lrpc_rpc_method_kind;

/** A typed error code a method may raise (for lrpc_rpc_error.name). */
typedef struct lrpc_rpc_error_code {
	int32_t value;
	const char *name; /**< "kv.KvError.NOT_FOUND" */
} lrpc_rpc_error_code;

/** A method or event of an interface. */
typedef struct lrpc_rpc_method {
	uint16_t ordinal;
	uint16_t since;
	uint16_t kind;                /**< lrpc_rpc_method_kind */
	const char *name;
	const lrpc_rpc_type *request; /**< parameters, as a STRUCT */
	const lrpc_rpc_type *reply;   /**< results (CALL), the item (STREAM),
				       *  else NULL */
	const lrpc_rpc_error_code *errors;
	uint32_t n_errors;
} lrpc_rpc_method;

/** An interface: the root of the tables generated for it. */
typedef struct lrpc_rpc_interface {
	size_t struct_size;       /**< sizeof(lrpc_rpc_interface) */
	uint32_t abi_version;     /**< LRPC_RPC_ABI_VERSION */
	uint32_t id;              /**< FNV-1a of "module.Name" */
	uint16_t version;         /**< the interface version */
	const uint32_t *hashes;   /**< canonical hash for v = 1..version */
	const char *name;         /**< "kv.Store" */
	const lrpc_rpc_method *methods; /**< by ordinal */
	uint32_t n_methods;
	/**
	 * The canonical form hashed for v = 1..version (docs/idl.md) without
	 * its first line ("interface <name> <v>", which @name and v give),
	 * for naming the first difference when peers' hashes disagree; NULL
	 * in tables from generators that did not emit it (read only when
	 * @struct_size covers it).
	 */
	const char *const *canonical;
	/**
	 * The interface as a self-contained IDL file (imported types copied
	 * in, constants replaced by their values), handed out by
	 * lrpc.Service.describe; NULL in tables from generators that did
	 * not emit it (read only when @struct_size covers it).
	 */
	const char *idl;
	/**
	 * Who may call each method (an lrpc_rpc_access per entry of
	 * @methods), from the IDL's `@access`; the server refuses anyone
	 * else with -EPERM before the handler runs.  NULL: every method is
	 * open to whoever the service admits (also in tables from
	 * generators that did not emit it; read only when @struct_size
	 * covers it).
	 */
	const uint8_t *access;
	/**
	 * The full `@access` policy of each method (one pointer per entry
	 * of @methods; NULL: open to whoever the service admits).  When
	 * present it replaces @access, which then holds the nearest word
	 * that errs on the side of refusing, for libraries that predate
	 * this field.  NULL in tables from older generators (read only
	 * when @struct_size covers it).
	 */
	const struct lrpc_rpc_policy *const *policy;
} lrpc_rpc_interface;

/**
 * One method's `@access` policy (generated).  Root may always call;
 * anyone else must match one of the rules: the server's effective uid
 * (LRPC_RPC_POLICY_OWNER), a uid of @uids, a primary or supplementary
 * group of @gids, or a member of a group named in @groups (resolved to
 * a gid when the interface is added to a server; a name the system does
 * not know matches nobody, and is logged).  LRPC_RPC_POLICY_ROOT alone
 * means nobody but root.  The credentials checked are the kernel's, read
 * at connect (lrpc_peer).  This struct never grows: generated tables
 * are arrays of it.
 */
typedef struct lrpc_rpc_policy {
	uint32_t flags; /**< LRPC_RPC_POLICY_* */
	uint32_t n_uids;
	const uint32_t *uids;
	uint32_t n_gids;
	const uint32_t *gids;
	uint32_t n_groups;
	const char *const *groups;
} lrpc_rpc_policy;

/** The server's effective uid may call (`@access(owner)`). */
#define LRPC_RPC_POLICY_OWNER (1u << 0)
/** Nobody but root (`@access(root)`). */
#define LRPC_RPC_POLICY_ROOT (1u << 1)

/** Values of lrpc_rpc_interface.access. */
typedef enum lrpc_rpc_access {
	LRPC_RPC_ACCESS_ANY = 0,   /**< whoever the service admits */
	LRPC_RPC_ACCESS_OWNER = 1, /**< the server's effective uid, and root */
	LRPC_RPC_ACCESS_ROOT = 2,  /**< uid 0 only */
} lrpc_rpc_access;

typedef struct lrpc_rpc_client lrpc_rpc_client;
typedef struct lrpc_rpc_call lrpc_rpc_call;
/** The server's side of a streamed reply (a call of a STREAM method). */
typedef struct lrpc_rpc_stream lrpc_rpc_stream;
/** A client's synchronous iterator over a streamed reply. */
typedef struct lrpc_rpc_iter lrpc_rpc_iter;

/**
 * Server side, generated per method: unpack @req, call the typed handler in
 * @handlers, store results in @rep.  Returns what the handler returned;
 * -EOPNOTSUPP when the handler is NULL.
 */
typedef int (*lrpc_rpc_invoke_fn)(lrpc_rpc_call *call, const void *handlers,
				  void *userdata, const void *req, void *rep);

/** A server's dispatch table for one interface (generated). */
typedef struct lrpc_rpc_dispatch {
	size_t struct_size;        /**< sizeof(lrpc_rpc_dispatch) */
	uint16_t version;          /**< the interface version served */
	const lrpc_rpc_interface *iface;
	const lrpc_rpc_invoke_fn *invoke; /**< per method index; NULL: event */
} lrpc_rpc_dispatch;

/**
 * Client side, generated per event: unpack @args and call the listener's
 * typed member (if not NULL).
 */
typedef void (*lrpc_rpc_notify_fn)(const void *listener, void *userdata,
				   const void *args);

/** A client's listener table for one interface (generated). */
typedef struct lrpc_rpc_listener {
	size_t struct_size;        /**< sizeof(lrpc_rpc_listener) */
	const lrpc_rpc_interface *iface;
	const lrpc_rpc_notify_fn *notify; /**< per method index; NULL: call */
} lrpc_rpc_listener;

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Detail of a failed call, filled by stubs that take `ret_error` (may be
 * NULL).  Owned by the caller; no pointers into freed memory: @name is a
 * static string and @message a copy.
 */
typedef struct lrpc_rpc_error {
	/** Same as the stub's return value: 0, -errno or the typed error. */
	int code;
	/**
	 * "kv.KvError.NOT_FOUND" for a typed error, "lrpc.NoSuchMethod" for
	 * -EOPNOTSUPP from the server, "lrpc.InterfaceMismatch" (-EPROTO),
	 * "lrpc.NewerThanPeer" (-EPROTONOSUPPORT), "lrpc.Busy" for -EBUSY
	 * from the server (the connection has max_deferred_calls waiting,
	 * server.h), "lrpc.AccessDenied" for -EPERM (e.g. a method's
	 * @access), "lrpc.Errno" for other errors; NULL on success.
	 */
	const char *name;
	/** The server's message (lrpc_rpc_call_set_error_message), or "". */
	char message[128];
} lrpc_rpc_error;

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Default timeout of a call passing LRPC_TIMEOUT_DEFAULT, until
 * lrpc_rpc_client_set_default_timeout() changes it: 25 seconds.
 */
#define LRPC_RPC_DEFAULT_TIMEOUT_USEC LRPC_DEFAULT_TIMEOUT_USEC

/**
 * Wrap the connected client @c for RPC.  Takes a reference on @c and
 * installs its response and event handlers (do not replace them while the
 * RPC client exists); the client's lrpc_client_process() then delivers
 * replies to async callbacks and events to listeners.
 * Errors: -EINVAL, -ENOMEM, -ENOTCONN.
 */
LRPC_EXPORT int lrpc_rpc_client_new(lrpc_rpc_client **ret, lrpc_client *c);
/** Take a reference; returns @rc. */
LRPC_EXPORT lrpc_rpc_client *lrpc_rpc_client_ref(lrpc_rpc_client *rc);
/**
 * Drop a reference (NULL is fine).  The last one frees the RPC client: the
 * callbacks of async calls still pending run once with -ECANCELED, the
 * handlers are removed from the lrpc_client and its reference dropped.
 * Returns NULL.
 */
LRPC_EXPORT lrpc_rpc_client *lrpc_rpc_client_unref(lrpc_rpc_client *rc);
/** The wrapped lrpc_client (no reference taken). */
LRPC_EXPORT lrpc_client *lrpc_rpc_client_get_client(lrpc_rpc_client *rc);
/**
 * Timeout of calls passing LRPC_TIMEOUT_DEFAULT (LRPC_TIMEOUT_DEFAULT
 * restores LRPC_RPC_DEFAULT_TIMEOUT_USEC).  Errors: -EINVAL.
 */
LRPC_EXPORT int lrpc_rpc_client_set_default_timeout(lrpc_rpc_client *rc,
						    uint64_t timeout_usec);
/**
 * The arena holding the data of the reply or event being delivered, for
 * lrpc_arena_take_fd() inside an async call's callback or an event
 * listener (since 1.3); NULL elsewhere.
 */
LRPC_EXPORT lrpc_arena *lrpc_rpc_client_get_arena(lrpc_rpc_client *rc);
/** Number of async calls waiting for their reply. */
LRPC_EXPORT size_t lrpc_rpc_client_get_n_pending(lrpc_rpc_client *rc);
/**
 * Push style: drive the RPC client (async replies, events, the deadlines
 * of async calls) from a loop; as lrpc_client_set_poll() on the wrapped
 * client.  The RPC client keeps a timer in that loop while async calls
 * are pending, so the loop must outlive the RPC client: free the RPC
 * client first.
 */
LRPC_EXPORT int lrpc_rpc_client_set_poll(lrpc_rpc_client *rc,
					 const lrpc_poll_ops *ops,
					 void *loop_data);
/**
 * Let `bytes` results of synchronous calls point into the received reply
 * instead of being copied into the caller's arena (no copy of large
 * payloads).  Such bytes stay valid until the next call on this RPC client,
 * lrpc_rpc_client_process() or lrpc_rpc_client_release_reply(); until then
 * other replies wait.  With the shm transport they lie in memory the
 * server can still write: read each byte once (strings are always copied
 * and checked).  Off by default.  Errors: -EINVAL.
 */
LRPC_EXPORT int lrpc_rpc_client_set_borrow_bytes(lrpc_rpc_client *rc,
						 bool borrow);
/** Give back the reply whose bytes were borrowed (none: no-op). */
LRPC_EXPORT int lrpc_rpc_client_release_reply(lrpc_rpc_client *rc);

/** The connection ended (lrpc_rpc_client_set_closed_handler()). */
typedef void (*lrpc_rpc_client_closed_fn)(lrpc_rpc_client *rc, int reason,
					  void *userdata);
/**
 * Callback run once when the wrapped client's connection ends (after the
 * pending async calls failed with -ENOTCONN), with the reason of
 * lrpc_client_set_closed_handler(); from lrpc_rpc_client_process() -- in
 * push style from the loop.  NULL removes it.  The RPC client owns the
 * wrapped client's closed handler: set this one instead.
 */
LRPC_EXPORT void lrpc_rpc_client_set_closed_handler(
	lrpc_rpc_client *rc, lrpc_rpc_client_closed_fn fn, void *userdata);
/**
 * A reconnect ended (lrpc_rpc_reconnect_opts.fn): @status is 0 once the
 * RPC client is connected again, or -ETIMEDOUT when the reconnect gave up
 * at its deadline (the RPC client then stays disconnected).
 */
typedef void (*lrpc_rpc_client_reconnect_fn)(lrpc_rpc_client *rc,
					     int status, void *userdata);

/** The reconnect policy of lrpc_rpc_client_set_reconnect(). */
typedef struct lrpc_rpc_reconnect_opts {
	/** Set to sizeof(lrpc_rpc_reconnect_opts); grows at its end. */
	size_t struct_size;
	/**
	 * How long to keep trying after the connection ended (µs); 0: 30 s,
	 * LRPC_TIMEOUT_INFINITE: no limit.
	 */
	uint64_t deadline_usec;
	/** First wait between attempts (µs), doubled after each; 0: 10 ms. */
	uint64_t backoff_min_usec;
	/** Longest wait between attempts (µs); 0: 1 s. */
	uint64_t backoff_max_usec;
	/** Told when the reconnect ended (NULL: not told). */
	lrpc_rpc_client_reconnect_fn fn;
	void *userdata;
} lrpc_rpc_reconnect_opts;

/**
 * Opt in to reconnecting (since 1.2): when the server goes away (not on
 * lrpc_client_close()), the closed handler runs as always, calls fail at
 * once with -ENOTCONN, and the loop the RPC client is attached to
 * (lrpc_rpc_client_set_poll(): push style only) tries to connect to the
 * same name with the same lrpc_client_opts again, waiting between attempts
 * from @opts->backoff_min_usec doubling up to @opts->backoff_max_usec.  On
 * success the RPC client wraps the new lrpc_client (the old one is
 * released: lrpc_rpc_client_get_client() changes), negotiates again every
 * interface it used or listens to -- the new server may speak another
 * version -- keeps its listeners, and then runs @opts->fn with 0.  At the
 * deadline it gives up and runs @opts->fn with -ETIMEDOUT.  NULL @opts
 * turns reconnecting off (and stops one under way).
 * Errors: -EINVAL, -E2BIG (@opts from a newer header with members set),
 * -ENOTCONN after the RPC client was released.
 */
LRPC_EXPORT int lrpc_rpc_client_set_reconnect(
	lrpc_rpc_client *rc, const lrpc_rpc_reconnect_opts *opts);

/** Shorthand for lrpc_rpc_client_set_poll() with an lrpc_loop. */
LRPC_EXPORT int lrpc_rpc_client_attach_loop(lrpc_rpc_client *rc,
					    lrpc_loop *loop);
/**
 * Pull style: the fd to poll (lrpc_client_get_fd() of the wrapped client);
 * call lrpc_rpc_client_process() when it is ready.
 */
LRPC_EXPORT int lrpc_rpc_client_get_fd(lrpc_rpc_client *rc);
/** Events to poll the fd for (LRPC_POLL_IN). */
LRPC_EXPORT int lrpc_rpc_client_get_events(lrpc_rpc_client *rc);
/** As lrpc_client_get_timeout() of the wrapped client. */
LRPC_EXPORT int lrpc_rpc_client_get_timeout(lrpc_rpc_client *rc,
					    uint64_t *ret_usec);
/**
 * Deliver what has arrived without blocking: async replies to their
 * callbacks, events to listeners.  >0 did work, 0 idle, -ENOTCONN once the
 * server is gone (pending callbacks then ran with -ENOTCONN).
 */
LRPC_EXPORT int lrpc_rpc_client_process(lrpc_rpc_client *rc);
/**
 * Wait up to @timeout_usec for input, then process it.  Returns as
 * lrpc_rpc_client_process(), 0 when nothing came.
 */
LRPC_EXPORT int lrpc_rpc_client_run_once(lrpc_rpc_client *rc,
					 uint64_t timeout_usec);

/**
 * Find out the server's version of @iface now (otherwise done by the first
 * call of one of its methods, waiting up to that call's timeout).  Returns
 * the version both sides speak (>= 1), or -EOPNOTSUPP (interface not
 * served), -EPROTO (diverging hashes), -ETIMEDOUT, -ENOTCONN.
 */
LRPC_EXPORT int lrpc_rpc_client_negotiate(lrpc_rpc_client *rc,
					  const lrpc_rpc_interface *iface,
					  uint64_t timeout_usec);

/**
 * Register @listener (a generated `struct <iface>_events`, which must
 * outlive the registration) for the events of @table's interface; NULL
 * removes it.  Events arrive through lrpc_rpc_client_process(); their
 * data is valid until the listener function returns.  Events of an
 * interface without listener, and events newer than this client's
 * interface version, are dropped.  Errors: -EINVAL, -ENOMEM.
 */
LRPC_EXPORT int lrpc_rpc_client_set_listener(lrpc_rpc_client *rc,
					     const lrpc_rpc_listener *table,
					     const void *listener,
					     void *userdata);

/**
 * Synchronous call (what generated sync stubs call): encode @req (the
 * method's request struct), send, wait up to @timeout_usec
 * (LRPC_TIMEOUT_DEFAULT: the RPC client's default) for the matching reply
 * and decode it into @rep with variable-size data in @arena (may be NULL
 * when the reply has none).
 * Replies to other calls arriving meanwhile go to their callbacks.
 * Returns 0, -errno, or the positive typed error; @ret_error (may be NULL)
 * gets the detail.  On failure @rep is left zeroed.
 */
LRPC_EXPORT int lrpc_rpc_client_call(lrpc_rpc_client *rc,
				     const lrpc_rpc_interface *iface,
				     const lrpc_rpc_method *method,
				     const void *req, void *rep,
				     lrpc_arena *arena, uint64_t timeout_usec,
				     lrpc_rpc_error *ret_error);

/**
 * Generic completion of an async call (generated per method): unpack @rep
 * and call @fn, the user's typed callback.
 */
typedef void (*lrpc_rpc_complete_fn)(lrpc_rpc_client *rc, int status,
				     const void *rep,
				     const lrpc_rpc_error *error,
				     void (*fn)(void), void *userdata);

/**
 * Asynchronous call: encode and send @req, return at once with the call id
 * in *ret_call_id (may be NULL).  @complete(@fn, @userdata) runs exactly
 * once from lrpc_rpc_client_process() (or a sync call waiting) with the
 * reply; or with -ETIMEDOUT when no reply came within @timeout_usec
 * (LRPC_TIMEOUT_DEFAULT: the RPC client's default; the server is told to
 * stop, as for lrpc_rpc_client_cancel()); or with -ENOTCONN when the
 * connection is lost, or -ECANCELED when the RPC client is freed; never
 * after lrpc_rpc_client_cancel() succeeded.  The deadline travels with the
 * call (lrpc_rpc_call_get_time_left()).  Deadlines are kept by a timer of
 * the loop the RPC client is attached to (lrpc_rpc_client_set_poll()), or,
 * pull style, by lrpc_rpc_client_process() and lrpc_rpc_client_run_once()
 * (lrpc_rpc_client_get_timeout() includes the next one).  The reply's data
 * is valid until the callback returns.  If this call fails, the callback
 * never runs.  A oneway method passes @complete NULL and has no reply.
 * Errors: as lrpc_rpc_client_call() without the wait.
 */
LRPC_EXPORT int lrpc_rpc_client_call_async(lrpc_rpc_client *rc,
					   const lrpc_rpc_interface *iface,
					   const lrpc_rpc_method *method,
					   const void *req,
					   lrpc_rpc_complete_fn complete,
					   void (*fn)(void), void *userdata,
					   uint64_t timeout_usec,
					   uint64_t *ret_call_id);

/**
 * Cancel the async call @call_id: its callback will never run, its reply,
 * if it still comes, is dropped, and the server is told (the handler of a
 * deferred call learns it through its abandon handler).  A synchronous
 * call that times out is cancelled the same way.  Returns 0, or -ENOENT if
 * no such call is pending (it completed or was cancelled already).
 */
LRPC_EXPORT int lrpc_rpc_client_cancel(lrpc_rpc_client *rc, uint64_t call_id);

/* ------------------------------------------------------------------------ */
/* Streams, client side (since 1.3)                                         */
/* ------------------------------------------------------------------------ */

/**
 * Items a client lets the server send ahead of its reading, unless
 * lrpc_rpc_client_set_stream_window() says otherwise; and the most it may
 * grant (a larger window, or credit adding up to more, is capped there).
 */
#define LRPC_RPC_STREAM_WINDOW 64
#define LRPC_RPC_STREAM_MAX_WINDOW 4096

/**
 * Window of the streams this RPC client opens from now on: the server
 * sends at most @items items that the client has not consumed yet (an
 * item is consumed when its callback returned, or when the iterator
 * handed it out); the client grants more as it consumes them.  0 restores
 * LRPC_RPC_STREAM_WINDOW.  Errors: -EINVAL (above
 * LRPC_RPC_STREAM_MAX_WINDOW).
 */
LRPC_EXPORT int lrpc_rpc_client_set_stream_window(lrpc_rpc_client *rc,
						  uint32_t items);

/**
 * Generic delivery of one streamed item (generated per method): unpack
 * @item and call @fn, the user's typed item callback.
 */
typedef void (*lrpc_rpc_item_fn)(lrpc_rpc_client *rc, const void *item,
				 void (*fn)(void), void *userdata);

/**
 * Start a call of the STREAM method @method (what generated async stream
 * stubs call): encode and send @req with the client's window.  Each item
 * is handed to @item(@item_fn, @userdata) from lrpc_rpc_client_process()
 * (or a sync call waiting), valid until it returns, in the order the
 * server sent them; then @end(@end_fn, @userdata) runs exactly once with
 * NULL results and the status: 0 (the server ended the stream), a
 * positive typed error or -errno from the server, -ETIMEDOUT when the
 * stream did not end within @timeout_usec (the deadline covers the whole
 * stream; LRPC_TIMEOUT_INFINITE for none; the server is told to stop),
 * -EBADMSG (the server broke the protocol: an item that does not decode,
 * or more items than granted -- the connection is then dropped),
 * -ENOTCONN (the connection was lost), -ECANCELED (the RPC client is
 * freed); never after lrpc_rpc_client_cancel(*ret_call_id) succeeded (the
 * server's handler learns it through its abandon handler).  If this call
 * fails, neither callback runs.  Errors: as lrpc_rpc_client_call_async().
 */
LRPC_EXPORT int lrpc_rpc_client_call_stream(
	lrpc_rpc_client *rc, const lrpc_rpc_interface *iface,
	const lrpc_rpc_method *method, const void *req, lrpc_rpc_item_fn item,
	void (*item_fn)(void), lrpc_rpc_complete_fn end, void (*end_fn)(void),
	void *userdata, uint64_t timeout_usec, uint64_t *ret_call_id);

/**
 * Make the items of the async stream @call_id count as consumed only when
 * lrpc_rpc_client_release_stream_items() says so, not when their callback
 * returns: for a client that hands items on to something slower (another
 * connection) and must hold no more of them than the window.  Call it
 * right after lrpc_rpc_client_call_stream(), before the client processes
 * input (since 1.3).  Errors: -ENOENT (no async stream @call_id pending).
 */
LRPC_EXPORT int lrpc_rpc_client_set_stream_hold(lrpc_rpc_client *rc,
					       uint64_t call_id);
/**
 * @items more items of the stream @call_id (held by
 * lrpc_rpc_client_set_stream_hold()) are consumed: the server may send
 * that many more.  After the stream's end there is nothing to consume.
 * Errors: -ENOENT (no such held stream pending), -EINVAL (more items than
 * were delivered and not consumed yet).
 */
LRPC_EXPORT int lrpc_rpc_client_release_stream_items(lrpc_rpc_client *rc,
						    uint64_t call_id,
						    uint32_t items);

/**
 * Start a call of the STREAM method @method and return an iterator over
 * its items in *ret (what generated *_open() stubs call).  Items that
 * arrive before they are asked for wait in the iterator, at most the
 * window (lrpc_rpc_client_set_stream_window()); the deadline
 * @timeout_usec covers the whole stream.  The iterator holds a reference
 * on @rc.  Errors: as lrpc_rpc_client_call_async(); @ret_error (may be
 * NULL) gets the detail.
 */
LRPC_EXPORT int lrpc_rpc_iter_new(lrpc_rpc_iter **ret, lrpc_rpc_client *rc,
				  const lrpc_rpc_interface *iface,
				  const lrpc_rpc_method *method,
				  const void *req, uint64_t timeout_usec,
				  lrpc_rpc_error *ret_error);
/** Take a reference; returns @it. */
LRPC_EXPORT lrpc_rpc_iter *lrpc_rpc_iter_ref(lrpc_rpc_iter *it);
/**
 * Drop a reference (NULL is fine); the last one closes the iterator and
 * frees it, with the items still queued.  Returns NULL.
 */
LRPC_EXPORT lrpc_rpc_iter *lrpc_rpc_iter_unref(lrpc_rpc_iter *it);
/**
 * The next item of @it, decoded into @item (the method's item struct,
 * zeroed first) with variable-size data in @arena (may be NULL when the
 * item has none), waiting for it up to the stream's deadline.  Replies to
 * other calls arriving meanwhile go to their callbacks.  Returns 1 (an
 * item), 0 (the stream ended; again at every later call), or -errno:
 * -ETIMEDOUT, -ENOTCONN, -EBADMSG, -ECANCELED (closed), the server's
 * -errno, or -EREMOTEIO when the server ended the stream with a typed IDL
 * error, whose positive value is in @ret_error->code (a positive return
 * would read as an item).  @ret_error (may be NULL) gets the detail.
 * After an error the stream is over; later calls return the same.
 */
LRPC_EXPORT int lrpc_rpc_iter_next(lrpc_rpc_iter *it, void *item,
				   lrpc_arena *arena,
				   lrpc_rpc_error *ret_error);
/**
 * Stop reading: a stream still running is cancelled (the server is told,
 * its abandon handler runs), items still coming are dropped, and next
 * returns -ECANCELED after the items already queued.  Idempotent; the
 * iterator must still be unref'd.
 */
LRPC_EXPORT void lrpc_rpc_iter_close(lrpc_rpc_iter *it);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * A handler's return value meaning "I keep the call and will answer later
 * through the generated <method>_reply() / <method>_reply_error()" (or
 * lrpc_rpc_call_reply()/lrpc_rpc_call_reply_error()).  Outside the errno
 * range, so no errno can be mistaken for it.
 */
#define LRPC_RPC_LATER (-0x10000)

/**
 * Serve an interface on @s through its generated dispatch @table: one
 * core handler for the interface id is added to the selector.  @handlers
 * (the generated `struct <iface>_handlers`) is not copied and must outlive
 * the server; @userdata is passed to every handler.  Errors: -EINVAL (bad
 * table or ABI mismatch), -EEXIST (interface already served), -ENOMEM
 * (also when lrpc.Service, which the server answers about every interface
 * it serves, could not be set up for this one; the interface is then not
 * served).
 */
LRPC_EXPORT int lrpc_server_add_interface(lrpc_server *s,
					  const lrpc_rpc_dispatch *table,
					  const void *handlers, void *userdata);

/**
 * A server's own say on who may call what, beyond the IDL's `@access`:
 * run for each request and oneway message of the interface it was set
 * for, after the IDL's policy let the caller through and before anything
 * of the request is decoded (it cannot widen the IDL's policy, only
 * narrow it).  @peer holds the caller's credentials (the kernel's, read
 * at connect), @method the method called.  Return 0 to let the call go
 * on, or a negative errno to refuse it with that status: -EPERM reaches
 * the caller as lrpc.AccessDenied.  A refused oneway message is dropped.
 * Refusals are counted like the IDL's.  Any other value refuses with
 * -EPERM.
 */
typedef int (*lrpc_rpc_access_fn)(lrpc_conn *conn, const lrpc_peer *peer,
				  const lrpc_rpc_interface *iface,
				  const lrpc_rpc_method *method,
				  void *userdata);

/**
 * Set (or with @fn NULL, remove) the access hook of the interface @iface
 * that @s serves (lrpc_server_add_interface()).  Errors: -EINVAL, -ENOENT
 * (@s does not serve @iface).
 */
LRPC_EXPORT int lrpc_server_set_access_hook(lrpc_server *s,
					    const lrpc_rpc_interface *iface,
					    lrpc_rpc_access_fn fn,
					    void *userdata);

/**
 * The credentials of the caller whose request this thread is handling
 * right now: valid only while a handler (or an access hook) runs, and
 * only on the thread that runs it.  Anywhere else, -ESRCH, and @ret is
 * left alone -- never the server's own identity.  Code that keeps a call
 * (LRPC_RPC_LATER) asks lrpc_rpc_call_get_peer() instead.  The groups
 * @ret points to stay valid while the connection does.
 */
LRPC_EXPORT int lrpc_rpc_get_caller(lrpc_peer *ret);

/**
 * The credentials of whoever made @call (the kernel's, read at connect),
 * until the call is answered.  Errors: -EINVAL, -ENOTCONN (the caller
 * went away).  The groups @ret points to stay valid while the connection
 * does.
 */
LRPC_EXPORT int lrpc_rpc_call_get_peer(lrpc_rpc_call *call, lrpc_peer *ret);

/** The connection a call came in on; NULL once the client went away. */
LRPC_EXPORT lrpc_conn *lrpc_rpc_call_get_conn(lrpc_rpc_call *call);
/** The interface version the caller negotiated (its own version), or 0. */
LRPC_EXPORT unsigned lrpc_rpc_call_get_peer_version(lrpc_rpc_call *call);
/**
 * An arena for the handler's result data; reset after the reply is sent.
 * Valid while the handler runs (or until a deferred reply).
 */
LRPC_EXPORT lrpc_arena *lrpc_rpc_call_get_arena(lrpc_rpc_call *call);
/**
 * Attach a message to the error reply (copied, truncated to 127 bytes).
 * Errors: -EINVAL.
 */
LRPC_EXPORT int lrpc_rpc_call_set_error_message(lrpc_rpc_call *call,
						const char *message);
/**
 * Called when the client of a deferred call goes away (the call stays
 * allocated: answer it, which then returns -ENOTCONN and frees it).
 */
typedef void (*lrpc_rpc_abandon_fn)(lrpc_rpc_call *call, void *userdata);
/**
 * Install the abandon callback of a deferred call (NULL removes it).  It
 * runs once when nobody waits for the answer any more: the client
 * cancelled the call, its deadline passed on the client, or the client
 * went away (lrpc_rpc_call_get_abandon_reason() says which).  A reply
 * after that is not sent (the reply call returns the reason).
 */
LRPC_EXPORT int lrpc_rpc_call_set_abandon_handler(lrpc_rpc_call *call,
						  lrpc_rpc_abandon_fn fn,
						  void *userdata);
/**
 * Why the call was abandoned: 0 (it was not), -ECANCELED (the client
 * cancelled it or gave up at its deadline) or -ENOTCONN (the client went
 * away).
 */
LRPC_EXPORT int lrpc_rpc_call_get_abandon_reason(lrpc_rpc_call *call);
/**
 * The time the caller has left for this call, in microseconds, from the
 * deadline that travelled with the request: LRPC_TIMEOUT_INFINITE when the
 * caller set none, 0 once it passed.  Errors: -EINVAL.
 */
LRPC_EXPORT int lrpc_rpc_call_get_time_left(lrpc_rpc_call *call,
					    uint64_t *ret_usec);

/**
 * Answer a deferred call with results @rep (the method's reply struct) or
 * with an error: a positive typed error or a negative errno.  Either frees
 * the call, also on failure; it must not be used afterwards.  Returns 0,
 * -ENOTCONN (the client went away: nothing sent), -EINVAL (bad results,
 * e.g. above a @max), -EMSGSIZE, -EAGAIN (queue full), -ENOMEM.
 */
LRPC_EXPORT int lrpc_rpc_call_reply(lrpc_rpc_call *call, const void *rep);
LRPC_EXPORT int lrpc_rpc_call_reply_error(lrpc_rpc_call *call, int code);

/* --- Streams, server side (since 1.3) --- */

/**
 * The stream of a call of a STREAM method (the handler of such a method
 * gets it), or NULL for other calls.  The stream is the call: it stays
 * allocated until lrpc_rpc_stream_end() or lrpc_rpc_stream_fail(), also
 * after the handler returned 0.  The call's abandon handler
 * (lrpc_rpc_call_set_abandon_handler()) tells the owner when nobody
 * reads any more: the client cancelled, its deadline passed, or it went
 * away.
 */
LRPC_EXPORT lrpc_rpc_stream *lrpc_rpc_call_get_stream(lrpc_rpc_call *call);
/** The call of @stream (for its arena, abandon handler, error message). */
LRPC_EXPORT lrpc_rpc_call *lrpc_rpc_stream_get_call(lrpc_rpc_stream *stream);
/**
 * Send one item (the method's item struct) to the client.  The client
 * grants items in a window: once it is used up, this returns -EAGAIN and
 * nothing is queued (the server's memory for a stream stays bounded by
 * the window); the writable handler then runs when the client grants
 * more.  Returns 0, -EAGAIN, -EINVAL (an item above a @max, ...),
 * -EMSGSIZE, -EPROTONOSUPPORT, -EALREADY (the stream ended), or the
 * abandon reason (-ECANCELED, -ENOTCONN) once nobody reads.
 */
LRPC_EXPORT int lrpc_rpc_stream_send(lrpc_rpc_stream *stream,
				     const void *item);
/** Items that may be sent now without -EAGAIN (0 once abandoned). */
LRPC_EXPORT uint32_t lrpc_rpc_stream_get_credit(lrpc_rpc_stream *stream);
/** Called when the client granted more items after a send saw -EAGAIN. */
typedef void (*lrpc_rpc_stream_writable_fn)(lrpc_rpc_stream *stream,
					    void *userdata);
/**
 * Install the writable handler of @stream (NULL removes it): it runs from
 * the server's loop each time credit arrives after a send returned
 * -EAGAIN.  Errors: -EINVAL.
 */
LRPC_EXPORT int lrpc_rpc_stream_set_writable_handler(
	lrpc_rpc_stream *stream, lrpc_rpc_stream_writable_fn fn,
	void *userdata);
/**
 * End @stream: the client's end callback gets 0 (end) or @code (fail: a
 * positive typed error or a negative errno, with the call's error message
 * if one was set).  Either frees the stream (the call) unless called from
 * inside the handler, which frees it when it returns; it must not be used
 * afterwards.  Returns 0, -ENOTCONN, the abandon reason (nothing sent),
 * -EAGAIN (the connection's queue is full: the end is lost, the client
 * sees its deadline), -EALREADY.
 */
LRPC_EXPORT int lrpc_rpc_stream_end(lrpc_rpc_stream *stream);
LRPC_EXPORT int lrpc_rpc_stream_fail(lrpc_rpc_stream *stream, int code);

/**
 * Send event @method of @iface with arguments @args to one connection
 * (emit) or to every connection of @s (broadcast).  Emit returns 0,
 * -EPROTONOSUPPORT (the peer negotiated an older version than the event),
 * -EINVAL, -EMSGSIZE, -EAGAIN, -ENOTCONN.  Broadcast skips connections
 * that negotiated an older version, and returns the number of
 * connections sent to or the encoding's -errno.
 */
LRPC_EXPORT int lrpc_conn_emit(lrpc_conn *conn, const lrpc_rpc_interface *iface,
			       const lrpc_rpc_method *method, const void *args);
LRPC_EXPORT int lrpc_server_broadcast(lrpc_server *s,
				      const lrpc_rpc_interface *iface,
				      const lrpc_rpc_method *method,
				      const void *args);

/* ------------------------------------------------------------------------ */
/* Codec (also used by tests and tools)                                     */
/* ------------------------------------------------------------------------ */

/** Deepest nesting a decoder accepts (as the IDL's limit). */
#define LRPC_RPC_MAX_DEPTH 32

/**
 * Encode @value (C representation of @type) into @buf of @cap bytes.
 * Returns 0 and the encoded size in *ret_size; if that is larger than @cap
 * nothing useful was written (call again with a buffer that large; @buf may
 * be NULL with @cap 0 to measure).  Errors: -EINVAL (a value above its
 * @max, invalid UTF-8, an enum value or union tag not in the type, a NULL
 * where a value is required), -EMSGSIZE (above 4 GiB).
 */
LRPC_EXPORT int lrpc_rpc_encode(const lrpc_rpc_type *type, const void *value,
				void *buf, size_t cap, size_t *ret_size);
/**
 * Decode exactly @size bytes at @data into @value (zeroed first), with
 * variable-size data in @arena.  Errors: -EBADMSG (truncated, trailing
 * bytes, invalid UTF-8 or NUL in a string, bool not 0/1, enum value or
 * union tag unknown, above a @max, deeper than LRPC_RPC_MAX_DEPTH), -ENOBUFS
 * / -ENOMEM (arena).
 */
LRPC_EXPORT int lrpc_rpc_decode(const lrpc_rpc_type *type, const void *data,
				size_t size, void *value, lrpc_arena *arena);

#ifdef __cplusplus
}
#endif

#endif
