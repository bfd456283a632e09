/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Server and connection internals shared by ipc-server.c and ipc-conn.c. */
#ifndef LRPC_IPC_INTERNAL_H
#define LRPC_IPC_INTERNAL_H

#include <lrpc/server.h>

#include "ipc-ctl.h"
#include "ipc-handshake.h"
#include "ipc-msg.h"
#include "ipc-naming.h"
#include "ipc-seam.h"
#include "ipc-selector.h"
#include "ipc-wait.h"
#include "transport/transport.h"
#include "util.h"

typedef enum conn_state {
	CONN_HANDSHAKE,
	CONN_ACTIVE,
	CONN_CLOSING,
	CONN_CLOSED,
} conn_state;

/* A message waiting in the server because its channel had no room. */
typedef struct lrpc__qmsg {
	struct lrpc__qmsg *next;
	size_t size; /* padded wire size */
	int *fds;    /* our own duplicates of the fds to attach, or NULL */
	unsigned n_fds;
	_Alignas(8) uint8_t data[]; /* a message: 8-byte aligned */
} lrpc__qmsg;

typedef struct lrpc__queue {
	lrpc__qmsg *head, *tail;
	size_t bytes;
	uint32_t count;
} lrpc__queue;

/* Hooks of the layers above (ipc-seam.h), in a list per object. */
typedef struct lrpc__hook {
	struct lrpc__hook *next;
	lrpc__hook_fn fn;
	void *data;
} lrpc__hook;

typedef struct lrpc__uid_count {
	uid_t uid;
	uint32_t count;
} lrpc__uid_count;

struct lrpc_conn {
	unsigned n_ref;
	lrpc_server *server; /* strong reference */
	lrpc_conn *prev, *next;
	lrpc_conn **list; /* head of the list this connection is on, or NULL */
	conn_state state;
	bool accepted;
	bool created_ran;
	bool close_job_pending;
	bool in_dispatch;
	/* Its wake-ups are held while a handler runs (ipc-conn-send.c). */
	bool wakes_held;
	lrpc_conn *held_next;
	bool responded;
	bool undelivered_logged;
	/* Wake-ups on the request doorbell in a row that brought nothing
	 * (and that no send of ours waited for): see conn_note_ring(). */
	uint32_t idle_rings;
	uint64_t sent_at_ring; /* responses + events sent at the last ring */
	bool resume_job_pending;
	bool flow_control;
	int fd;
	lrpc_peer peer;
	gid_t *groups;
	lrpc__hello hello;
	size_t hello_got;
	void *timer; /* handshake timeout or closed-retry */
	void *stall_timer; /* armed while anything is queued */
	void *read_timer;  /* armed while a request is half received */
	uint64_t requests_at_read_arm;
	uint64_t progress; /* queued messages sent so far */
	uint64_t progress_at_arm;
	const lrpc__tconn_ops *tops; /* the server's transport's conn ops */
	lrpc__tconn *t;
	lrpc__ctl_page ctl;
	/*
	 * Watched fds: [0] is the main socket (from accept on; also the
	 * death signal), then the transport's distinct wait fds.
	 */
	int wfd[LRPC__N_CHAN + 1];
	uint32_t wev[LRPC__N_CHAN + 1];
	unsigned n_wfd;
	int chan_fd[LRPC__N_CHAN]; /* t_wait_fd per channel and direction */
	uint32_t chan_ev[LRPC__N_CHAN];
	unsigned armed; /* channels announced as sleeping (1 << chan) */
	uint32_t spin_extra; /* extra spin (us) after a large response */
	/* Spins in a row that waited for a request in vain, and when the
	 * last one gave up (ipc-conn-recv.c, conn_spin). */
	uint32_t spin_misses;
	uint64_t spin_gave_up;
	/* An open lrpc_conn_reserve_*(): channel or -1, buffer, and the
	 * queue entry when it is private memory. */
	int resv_chan;
	void *resv_buf;
	size_t resv_size;
	lrpc__qmsg *resv_q;
	uint32_t max_msg;
	unsigned fd_per_msg; /* negotiated fds per message, 0: none */
	/* The request being handled (its fds can be taken), or NULL. */
	const lrpc_msg_header *cur_msg;
	size_t max_queued; /* bytes per channel queue */
	uint64_t cur_seq;
	void *userdata;
	lrpc__queue q[LRPC__N_CHAN];
	lrpc_conn_stats stats;
	lrpc__hook *close_hooks;
	uint32_t n_deferred; /* RPC calls answered later (ipc-seam.h) */
	/* Memory give-back (ipc-conn-trim.c): on the server's trim list
	 * once it moved LRPC__TRIM_KEEP bytes since its last trim. */
	lrpc_conn *trim_prev, *trim_next;
	bool trim_listed;
	uint64_t trim_bytes;  /* bytes moved since the last trim */
	uint64_t trim_seen;   /* messages counted at the last check */
	uint64_t trim_active; /* when the last check found it busy */
	uint64_t id; /* lrpc__conn_get_id() */
};

struct lrpc_server {
	unsigned n_ref;
	unsigned n_conn_refs; /* references held by connection objects */
	pid_t origin_pid;
	char name[LRPC_NAME_MAX + 1];
	lrpc_server_callbacks cb;
	lrpc_server_opts opts;
	void *userdata;
	const lrpc__transport *tr;
	const lrpc_poll_ops *pops;
	void *loop_data;
	lrpc_loop *own_loop;
	bool started;
	bool closed;
	bool stop_sending;
	bool listen_paused;
	lrpc__bound bound;
	void *pause_timer;
	lrpc__selector sel;
	lrpc_conn *conns;   /* active connections */
	lrpc_conn *pending; /* connections in the handshake */
	lrpc__uid_count *uids;
	size_t n_uids;
	lrpc_server_stats stats;
	lrpc__hook *free_hooks;
	uint32_t spin_usec;
	uint64_t start_usec; /* monotonic, at lrpc_server_new() */
	/* Connections that may have memory to give back, and the timer
	 * that checks them while there are any (ipc-conn-trim.c). */
	lrpc_conn *trims;
	void *trim_timer;
	uint64_t last_conn_id;
	/* The tap (ipc-seam.h): NULL while off; in_tap while it runs. */
	lrpc__tap_fn tap;
	void *tap_data;
	bool in_tap;
	/* Handlers running (nested loops nest), and the connections whose
	 * wake-ups are held until the outermost returns. */
	unsigned dispatching;
	lrpc_conn *held;
};

/* Hook lists (the seam's hooks are kept in these). */
int lrpc__hook_add(lrpc__hook **list, lrpc__hook_fn fn, void *data);
int lrpc__hook_remove(lrpc__hook **list, lrpc__hook_fn fn, void *data);
void lrpc__hooks_run(lrpc__hook **list, void *object);

/* ipc-conn.c, ipc-conn-send.c, ipc-conn-recv.c */
int lrpc__conn_new(lrpc_server *s, int fd, lrpc_conn **ret);
void lrpc__conn_on_main(int fd, uint32_t revents, void *userdata);
int lrpc__conn_activate(lrpc_conn *c);
void lrpc__conn_teardown(lrpc_conn *c);
void lrpc__conn_close_later(lrpc_conn *c);
void lrpc__conn_set_ctl(lrpc_conn *c);
void lrpc__conn_list_remove(lrpc_conn *c);
void lrpc__conn_list_add(lrpc_conn *c, lrpc_conn **head);
/* Held wake-ups (ipc-conn-send.c): stop holding @c's, or everyone's. */
void lrpc__conn_release_wakes(lrpc_conn *c);
void lrpc__server_release_wakes(lrpc_server *s);
/* Between the connection's files (lifecycle, sending, reading). */
void lrpc__conn_flush(lrpc_conn *c, lrpc__chan chan);
void lrpc__conn_on_resume_job(void *userdata);
void lrpc__conn_queue_clear(lrpc__queue *q);
void lrpc__conn_sleep(lrpc_conn *c);
void lrpc__conn_update_events(lrpc_conn *c);

/* A response or event with @n_fds fds (ipc-conn-send.c). */
int lrpc__conn_send_fds(lrpc_conn *c, lrpc__chan chan, const struct iovec *iov,
			size_t n, const int *fds, unsigned n_fds);

/* Hand a message of @c to the server's tap, which is on. */
void lrpc__conn_run_tap(lrpc_conn *c, lrpc__tap_dir dir,
			const struct iovec *iov, size_t n_iov, size_t size);
/* The one branch the message paths pay for the tap. */
#define LRPC__CONN_TAP(c, dir, iov, n_iov, size)                            \
	do {                                                                \
		if (_lrpc_unlikely_((c)->server->tap != NULL))              \
			lrpc__conn_run_tap(c, dir, iov, n_iov, size);       \
	} while (0)

/* ipc-conn-trim.c */
void lrpc__conn_trim_list(lrpc_conn *c);
void lrpc__conn_trim_unlist(lrpc_conn *c);
void lrpc__server_trim_stop(lrpc_server *s);

/*
 * Count @size bytes moved by @c: the first LRPC__TRIM_KEEP bytes since
 * its last trim cost nothing more than this addition.
 */
static inline void
lrpc__conn_note_bytes(lrpc_conn *c, size_t size)
{
	c->trim_bytes += size;
	if (_lrpc_unlikely_(c->trim_bytes >= LRPC__TRIM_KEEP) &&
	    !c->trim_listed)
		lrpc__conn_trim_list(c);
}

/* ipc-accept.c */
void lrpc__accept_hello(lrpc_conn *c);
void lrpc__accept_uid_release(lrpc_server *s, uid_t uid);
int lrpc__accept_read_peer(int fd, lrpc_peer *peer, gid_t **ret_groups);



#define CONN_CHECK(c, r)                                                    \
	do {                                                                \
		lrpc_return_if_fail(c, r);                                  \
		lrpc_return_if_fail((c)->server->origin_pid == lrpc__getpid(), \
				    -ECHILD);                               \
	} while (0)

#define SERVER_CHECK(s, r)                                                  \
	do {                                                                \
		lrpc_return_if_fail(s, r);                                  \
		lrpc_return_if_fail((s)->origin_pid == lrpc__getpid(), -ECHILD);  \
	} while (0)

#endif
