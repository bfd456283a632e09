/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client object, shared by the files that make up the client:
 *
 *   ipc-client.c          lifetime, options, state getters
 *   ipc-client-connect.c  connect and handshake (blocking and async)
 *   ipc-client-io.c       sends, receives and the waiting between them
 *   ipc-client-loop.c     the poll seam: push and pull style, process
 *   ipc-client-zerocopy.c reservations and views
 */
#ifndef LRPC_IPC_CLIENT_INTERNAL_H
#define LRPC_IPC_CLIENT_INTERNAL_H

#include <lrpc/client.h>

#include "ipc-ctl.h"
#include "ipc-handshake.h"
#include "ipc-msg.h"
#include "ipc-wait.h"
#include "transport/transport.h"
#include "util.h"

typedef enum client_state {
	CLIENT_CONNECTING,
	CLIENT_CONNECTED,
	CLIENT_DISCONNECTED,
} client_state;

/* Most fds a client watches: the main socket and two wait fds. */
#define CLIENT_MAX_WATCH 3

struct lrpc_client {
	unsigned n_ref;
	pid_t origin_pid;
	client_state state;
	int fd; /* main socket */
	lrpc_client_opts opts;
	char name[LRPC_NAME_MAX + 1];
	const lrpc__transport *tr;   /* NULL until the transport is known */
	const lrpc__tconn_ops *tops; /* tr->conn */
	lrpc__tconn *t;
	lrpc__ctl_page ctl;
	uint32_t max_msg;
	unsigned fd_per_msg; /* negotiated fds per message, 0: none */
	lrpc_peer server;
	uint64_t next_seq;
	void *userdata;

	/* Async connect. */
	lrpc_client_connect_fn connect_cb;
	void *connect_data;
	uint64_t connect_deadline;
	lrpc__welcome welcome;
	size_t welcome_got;
	uint64_t caps_offered; /* LRPC__CAP_* our hello offered */
	lrpc__fdset fds;

	/* Handlers run by lrpc_client_process(). */
	lrpc_client_msg_fn event_fn;
	void *event_data;
	lrpc_client_msg_fn response_fn;
	void *response_data;
	lrpc_client_closed_fn closed_fn;
	void *closed_data;
	bool closed_pending; /* the connection ended; closed_fn not run yet */
	int closed_reason;

	/*
	 * The poll seam.  @pops is NULL until the client is attached: push
	 * style (lrpc_client_set_poll()) or pull style, where @own_loop is
	 * a private lrpc_loop whose fd lrpc_client_get_fd() returns.
	 */
	const lrpc_poll_ops *pops;
	void *loop_data;
	lrpc_loop *own_loop;
	int watch_fd[CLIENT_MAX_WATCH];
	uint32_t watch_ev[CLIENT_MAX_WATCH];
	unsigned n_watch;
	void *connect_timer;
	bool job_pending;
	/* What the loop's callbacks did during one pull-style process. */
	int proc_count;
	int proc_err;
	bool proc_ran;

	uint32_t spin_usec;
	uint32_t spin_extra; /* for the call in progress, by its size */
	/* Per channel: spins in a row that ended with nothing; at
	 * SPIN_MISSES_MAX the channel sleeps at once until a sleep shows
	 * that spinning would have paid (lrpc__client_wait). */
	uint8_t spin_misses[LRPC__N_CHAN];
	uint64_t spin_skipped; /* when the last spin was skipped */
	bool sent_since_recv; /* a request went out since the last response */
	unsigned armed;      /* channels announced as sleeping (1 << chan) */
	bool viewing[LRPC__N_CHAN]; /* a *_view() message not released yet */
	/* The message of each channel whose fds can be taken now (a view
	 * or a callback's), or NULL. */
	const lrpc_msg_header *fd_msg[LRPC__N_CHAN];
	bool reserved;       /* lrpc_client_reserve() not committed yet */
	size_t reserved_size;
	void *reserved_buf;

	/* Memory give-back (ipc-client-trim.c). */
	uint64_t trim_bytes; /* bytes moved since the last trim */
	bool trim_pending;   /* moved enough of them to trim when idle */
	uint64_t trim_last;  /* coarse clock at the last operation since */
	void *trim_timer;    /* attached clients: fires when idle enough */
};

/* ipc-client-trim.c */
void lrpc__client_trim_start(lrpc_client *c);
void lrpc__client_trim_op(lrpc_client *c);
void lrpc__client_trim_attach(lrpc_client *c);
void lrpc__client_trim_detach(lrpc_client *c);

/* Count @size bytes moved: below LRPC__TRIM_KEEP since the last trim, that
 * addition is all it costs. */
static inline void
lrpc__client_note_bytes(lrpc_client *c, size_t size)
{
	c->trim_bytes += size;
	if (_lrpc_unlikely_(c->trim_bytes >= LRPC__TRIM_KEEP) &&
	    !c->trim_pending)
		lrpc__client_trim_start(c);
}

#define CLIENT_CHECK(c)                                                     \
	do {                                                                \
		lrpc_return_if_fail(c, -EINVAL);                            \
		lrpc_return_if_fail((c)->origin_pid == lrpc__getpid(),      \
				    -ECHILD);                               \
	} while (0)

/* ipc-client.c */
/* A new client in CLIENT_CONNECTING, nothing opened yet. */
int lrpc__client_alloc(lrpc_client **ret, const char *name,
		       const lrpc_client_opts *opts);
/* A fatal error on the connection: everything after it is -ENOTCONN. */
int lrpc__client_broken(lrpc_client *c, int r);
/* Connected and called from the creating process: 0, or -errno. */
int lrpc__client_check_ready(lrpc_client *c);
/* Deadline of a public timeout with the client's default. */
uint64_t lrpc__client_deadline(uint64_t timeout_usec);
/* True when the main socket reports a hang-up or an error. */
bool lrpc__client_main_hung_up(lrpc_client *c);

/* ipc-client-connect.c */
/* Progress the handshake: 1 done, 0 not yet, <0 failed. */
int lrpc__client_handshake_step(lrpc_client *c);

/* ipc-client-io.c */
/*
 * Wait until @chan may have data (with @out: the request channel has
 * room), the main socket hangs up, or @deadline passes (-ETIMEDOUT).
 */
int lrpc__client_wait(lrpc_client *c, lrpc__chan chan, bool out,
		      uint64_t deadline);
/* -EAGAIN while the server says stop (control page), else 0. */
int lrpc__client_ctl_check(lrpc_client *c);

/* ipc-client-loop.c */
/* Bring the watched fds in line with the connection's state. */
void lrpc__client_watch_update(lrpc_client *c);
/* Stop watching every fd and drop the connect timer. */
void lrpc__client_watch_clear(lrpc_client *c);
/*
 * After a blocking wait took (and withdrew) the shared wake-up: announce
 * again the channels process serves, and if anything is already there,
 * have the loop call process.
 */
void lrpc__client_rearm(lrpc_client *c);
/* Have the loop run lrpc_client_process() soon (attached clients only). */
void lrpc__client_schedule(lrpc_client *c);

#endif
