/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrpc-glib: lrpc_poll_ops on a GLib main context.
 *
 * fds: one custom GSource per fd with g_source_add_unix_fd(), so that the
 * watched events can be changed in place (g_source_modify_unix_fd()); the
 * sources of g_unix_fd_add_full() do not allow that.  GLib polls
 * level-triggered and reports G_IO_HUP/G_IO_ERR whatever was asked for,
 * which is what lrpc_poll_ops promises.  A destroyed source is never
 * dispatched again, even if its fd was already found ready in the current
 * iteration, which is the fd_del contract.
 *
 * Jobs: one-shot idle sources, but at G_PRIORITY_DEFAULT, not the idle
 * priority of g_idle_add(): lrpc defers closing and resuming connections to
 * jobs, and an fd that stays ready (a peer that hung up, say) would starve
 * a lower-priority source forever.
 *
 * Timers: one-shot g_timeout_source_new() sources, the delay rounded up to
 * whole milliseconds so that a timer never fires early.  Handles are
 * numbers looked up in a table, never pointers, so that a handle whose
 * timer already fired (or was deleted) is answered with -ENOENT instead of
 * touching freed memory.
 */
#include <errno.h>

#include <lrpc/glib.h>

struct lrpc_glib {
	unsigned n_ref;
	GMainContext *context;
	GHashTable *fds;    /* fd -> fd_source (holds a reference) */
	GHashTable *timers; /* id -> timer_entry (owned by its GSource) */
	GHashTable *jobs;   /* job_entry set (owned by their GSources) */
	uintptr_t next_timer_id;
};

typedef struct fd_source {
	GSource source;
	gpointer tag;
	int fd;
	lrpc_poll_fd_fn cb;
	void *cb_data;
} fd_source;

typedef struct timer_entry {
	lrpc_glib *a;
	uintptr_t id; /* 0 once fired or deleted */
	GSource *source;
	lrpc_poll_fn cb;
	void *cb_data;
} timer_entry;

typedef struct job_entry {
	lrpc_glib *a;
	GSource *source;
	lrpc_poll_fn cb;
	void *cb_data;
} job_entry;

/* LRPC_POLL_* are poll(2)'s bits, and so are GLib's G_IO_* on Linux; the
 * conversions are spelled out anyway so that nothing depends on it. */
static GIOCondition
to_gio(uint32_t events)
{
	GIOCondition c = 0;

	if (events & LRPC_POLL_IN)
		c |= G_IO_IN;
	if (events & LRPC_POLL_OUT)
		c |= G_IO_OUT;
	return c;
}

static uint32_t
from_gio(GIOCondition c)
{
	uint32_t ev = 0;

	if (c & G_IO_IN)
		ev |= LRPC_POLL_IN;
	if (c & G_IO_OUT)
		ev |= LRPC_POLL_OUT;
	/* An fd closed while still watched is an error for its owner. */
	if (c & (G_IO_ERR | G_IO_NVAL))
		ev |= LRPC_POLL_ERR;
	if (c & G_IO_HUP)
		ev |= LRPC_POLL_HUP;
	return ev;
}

static gboolean
fd_source_dispatch(GSource *source, GSourceFunc unused_cb,
		   gpointer unused_data)
{
	fd_source *fs = (fd_source *)source;
	uint32_t ev = from_gio(g_source_query_unix_fd(source, fs->tag));

	/* The callback may delete this very fd (or others): GLib holds a
	 * reference on the source for the duration of the dispatch. */
	if (ev)
		fs->cb(fs->fd, ev, fs->cb_data);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs fd_source_funcs = {
	/* No prepare/check: a source with unix fds is ready when one of
	 * its fds polled ready. */
	.dispatch = fd_source_dispatch,
};

static void
fd_source_release(gpointer data)
{
	GSource *source = data;

	g_source_destroy(source);
	g_source_unref(source);
}

static int
glib_fd_add(void *loop_data, int fd, uint32_t events, lrpc_poll_fd_fn cb,
	    void *cb_data)
{
	lrpc_glib *a = loop_data;
	fd_source *fs;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (g_hash_table_contains(a->fds, GINT_TO_POINTER(fd)))
		return -EEXIST;
	fs = (fd_source *)g_source_new(&fd_source_funcs, sizeof(*fs));
	fs->fd = fd;
	fs->cb = cb;
	fs->cb_data = cb_data;
	fs->tag = g_source_add_unix_fd(&fs->source, fd, to_gio(events));
	g_source_set_name(&fs->source, "lrpc fd");
	g_source_attach(&fs->source, a->context);
	g_hash_table_insert(a->fds, GINT_TO_POINTER(fd), fs);
	return 0;
}

static int
glib_fd_mod(void *loop_data, int fd, uint32_t events)
{
	lrpc_glib *a = loop_data;
	fd_source *fs = g_hash_table_lookup(a->fds, GINT_TO_POINTER(fd));

	if (!fs)
		return -ENOENT;
	g_source_modify_unix_fd(&fs->source, fs->tag, to_gio(events));
	return 0;
}

static int
glib_fd_del(void *loop_data, int fd)
{
	lrpc_glib *a = loop_data;

	/* The table's value-destroy function destroys the source. */
	return g_hash_table_remove(a->fds, GINT_TO_POINTER(fd)) ? 0 : -ENOENT;
}

static gboolean
job_run(gpointer data)
{
	job_entry *j = data;

	j->cb(j->cb_data);
	return G_SOURCE_REMOVE;
}

/* Destroy notify of a job's source: it ran, or the adapter is freed. */
static void
job_release(gpointer data)
{
	job_entry *j = data;

	g_hash_table_remove(j->a->jobs, j);
	g_free(j);
}

static int
glib_job_add(void *loop_data, lrpc_poll_fn cb, void *cb_data)
{
	lrpc_glib *a = loop_data;
	job_entry *j;

	if (!cb)
		return -EINVAL;
	j = g_new0(job_entry, 1);
	j->a = a;
	j->cb = cb;
	j->cb_data = cb_data;
	j->source = g_idle_source_new();
	g_source_set_priority(j->source, G_PRIORITY_DEFAULT);
	g_source_set_name(j->source, "lrpc job");
	g_source_set_callback(j->source, job_run, j, job_release);
	g_hash_table_add(a->jobs, j);
	g_source_attach(j->source, a->context);
	g_source_unref(j->source); /* the context keeps it until it ran */
	return 0;
}

static gboolean
timer_fire(gpointer data)
{
	timer_entry *t = data;

	/* The handle is dead from now on, also inside the callback. */
	g_hash_table_remove(t->a->timers, (gpointer)t->id);
	t->id = 0;
	t->cb(t->cb_data);
	return G_SOURCE_REMOVE;
}

static void
timer_release(gpointer data)
{
	timer_entry *t = data;

	if (t->id)
		g_hash_table_remove(t->a->timers, (gpointer)t->id);
	g_free(t);
}

static int
glib_timer_add(void *loop_data, uint64_t usec, lrpc_poll_fn cb,
	       void *cb_data, void **ret_handle)
{
	lrpc_glib *a = loop_data;
	uint64_t ms = usec / 1000 + (usec % 1000 != 0);
	timer_entry *t;

	if (!cb)
		return -EINVAL;
	if (ms > G_MAXUINT)
		ms = G_MAXUINT;
	t = g_new0(timer_entry, 1);
	t->a = a;
	t->cb = cb;
	t->cb_data = cb_data;
	/* Never 0, and not reused before 2^64 timers (2^32 on 32 bits). */
	if (++a->next_timer_id == 0)
		++a->next_timer_id;
	t->id = a->next_timer_id;
	t->source = g_timeout_source_new((guint)ms);
	g_source_set_name(t->source, "lrpc timer");
	g_source_set_callback(t->source, timer_fire, t, timer_release);
	g_hash_table_insert(a->timers, (gpointer)t->id, t);
	g_source_attach(t->source, a->context);
	g_source_unref(t->source);
	if (ret_handle)
		*ret_handle = (void *)t->id;
	return 0;
}

static int
glib_timer_del(void *loop_data, void *handle)
{
	lrpc_glib *a = loop_data;
	timer_entry *t = g_hash_table_lookup(a->timers, handle);

	if (!t)
		return -ENOENT;
	g_hash_table_remove(a->timers, handle);
	t->id = 0;
	/* Frees t through timer_release. */
	g_source_destroy(t->source);
	return 0;
}

static const lrpc_poll_ops glib_poll_ops = {
	.struct_size = sizeof(lrpc_poll_ops),
	.fd_add = glib_fd_add,
	.fd_mod = glib_fd_mod,
	.fd_del = glib_fd_del,
	.job_add = glib_job_add,
	.timer_add = glib_timer_add,
	.timer_del = glib_timer_del,
};

LRPC_EXPORT const lrpc_poll_ops *
lrpc_glib_get_poll_ops(void)
{
	return &glib_poll_ops;
}

LRPC_EXPORT int
lrpc_glib_new(lrpc_glib **ret, GMainContext *context)
{
	lrpc_glib *a;

	if (!ret)
		return -EINVAL;
	a = g_try_new0(lrpc_glib, 1);
	if (!a)
		return -ENOMEM;
	a->n_ref = 1;
	a->context = context ? g_main_context_ref(context)
			     : g_main_context_ref(g_main_context_default());
	a->fds = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
				       fd_source_release);
	a->timers = g_hash_table_new(g_direct_hash, g_direct_equal);
	a->jobs = g_hash_table_new(g_direct_hash, g_direct_equal);
	*ret = a;
	return 0;
}

LRPC_EXPORT lrpc_glib *
lrpc_glib_ref(lrpc_glib *a)
{
	if (a)
		a->n_ref++;
	return a;
}

/* Destroy the sources in @table's keys or values (they unregister
 * themselves from @table). */
static void
destroy_sources(GHashTable *table, gboolean keys)
{
	GList *list = keys ? g_hash_table_get_keys(table)
			   : g_hash_table_get_values(table);

	for (GList *l = list; l; l = l->next) {
		if (keys) {
			job_entry *j = l->data;
			g_source_destroy(j->source);
		} else {
			timer_entry *t = l->data;
			g_source_destroy(t->source);
		}
	}
	g_list_free(list);
}

LRPC_EXPORT lrpc_glib *
lrpc_glib_unref(lrpc_glib *a)
{
	if (!a || --a->n_ref > 0)
		return NULL;
	g_hash_table_remove_all(a->fds);
	destroy_sources(a->timers, FALSE);
	destroy_sources(a->jobs, TRUE);
	g_hash_table_unref(a->fds);
	g_hash_table_unref(a->timers);
	g_hash_table_unref(a->jobs);
	g_main_context_unref(a->context);
	g_free(a);
	return NULL;
}

LRPC_EXPORT void
lrpc_glib_get_counts(lrpc_glib *a, unsigned *ret_fds, unsigned *ret_jobs,
		     unsigned *ret_timers)
{
	if (ret_fds)
		*ret_fds = a ? g_hash_table_size(a->fds) : 0;
	if (ret_jobs)
		*ret_jobs = a ? g_hash_table_size(a->jobs) : 0;
	if (ret_timers)
		*ret_timers = a ? g_hash_table_size(a->timers) : 0;
}
