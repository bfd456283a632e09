/*
 * gateway.hh - the gateway program's parts: the lrpc loop other threads
 * post work to, the error mapping, the access policy, the export side (a
 * gRPC generic callback service whose calls become lrpc calls) and the
 * import side (an lrpc server whose calls become gRPC calls).
 *
 * Threads: lrpc objects (client, server, loop) are used only by the thread
 * running the loop (or a thread holding its lock); gRPC's threads hand
 * work to it with Loop::post().  The exception: export's unary calls,
 * which each gRPC thread makes on an RPC client of its own.
 */
#ifndef LRPC_GATEWAY_HH
#define LRPC_GATEWAY_HH

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <lrpc/grpc-gateway.hh>
#include <lrpc/loop.h>
#include <lrpc/lrpc.h>
#include <lrpc/rpc.h>

namespace lrpc_grpc {

class Loop {
public:
	Loop() = default;
	~Loop();
	Loop(const Loop &) = delete;
	Loop &operator=(const Loop &) = delete;

	int init();
	lrpc_loop *get() { return loop_; }
	/* Run @fn in the loop's thread (from any thread). */
	void post(std::function<void()> fn);
	/*
	 * Dispatch until quit(), holding lock() while lrpc callbacks run and
	 * not while waiting.  Returns 0 or a negative errno.
	 */
	int run();
	void quit() { quit_ = true; }
	/* Run again after quit(). */
	void init_quit() { quit_ = false; }
	/*
	 * Held by the loop while it dispatches: another thread that holds it
	 * may use the lrpc objects directly, which saves the hop to the
	 * loop's thread on the way in.
	 */
	std::recursive_mutex &lock() { return lrpc_mu_; }

private:
	static void on_wake(int fd, uint32_t revents, void *data);

	lrpc_loop *loop_ = nullptr;
	std::recursive_mutex lrpc_mu_;
	bool quit_ = false;
	int efd_ = -1;
	std::mutex mu_;
	std::deque<std::function<void()>> queue_;
};

/* The gRPC status of a failed lrpc call (docs/idl.md, "gRPC (.proto)"),
 * with an LrpcError of package @module in its details. */
grpc::Status status_from_lrpc(const char *module, int code,
			      const lrpc_rpc_error *err);
/* A status with an LrpcError named @name. */
grpc::Status make_status(const char *module, grpc::StatusCode code,
			 const std::string &name, int lrpc_code,
			 const std::string &message);
/* The lrpc error of a gRPC status for a call of @method: its typed error
 * when the status carries one @method raises, else a negative errno; the
 * lrpc message in *message (the LrpcError's, else the status's). */
int errno_from_status(const grpc::Status &s, const lrpc_rpc_method *method,
		      std::string *message);

/* The bytes of a gRPC buffer, and back. */
std::string flatten(const grpc::ByteBuffer &bb);
void fill(grpc::ByteBuffer *bb, const std::string &data);

/*
 * Who may call what through the export gateway: lines of
 *   <identity> <method> [<method> ...]
 * where identity is a client certificate's common name, "anonymous" (no
 * certificate) or "*", and a method is "kv.Store.get", "kv.Store.*",
 * "kv.Store.Watch" (the event stream) or "*".  No policy: everyone may
 * call everything.
 */
class Policy {
public:
	/* Returns 0, or -errno with a message in *err. */
	int load(const std::string &path, std::string *err);
	void add(const std::string &identity, const std::string &method);
	bool configured() const { return !rules_.empty(); }
	bool allows(const std::string &identity,
		    const std::string &method) const;

private:
	std::vector<std::pair<std::string, std::string>> rules_;
};

class WatchCall;

/* A gRPC thread's RPC client whose call the loop's thread finishes
 * (Exporter::park()). */
struct Parked {
	class Exporter *ex;
	lrpc_rpc_client *rc;
	int fd;
	void *timer;
};

struct ExportIface {
	class Exporter *ex;
	const Interface *gi;
	std::string module;
	std::vector<lrpc_rpc_notify_fn> notify;
	lrpc_rpc_listener table;
};

class Exporter final : public grpc::CallbackGenericService {
public:
	Exporter(Loop *loop, const Policy *policy)
		: loop_(loop), policy_(policy) {}
	~Exporter() override;

	/* Connect to @service (as this process's uid) and learn every
	 * interface of the linked modules.  Loop thread. */
	int start(const char *service, const lrpc_client_opts *opts);
	/*
	 * The calling thread's own RPC client of the service, attached to no
	 * loop (unary calls made and awaited in gRPC's thread): made on first
	 * use, and again once its connection ended.  NULL if the service
	 * cannot be reached now.  Any thread.
	 */
	lrpc_rpc_client *thread_client();
	/* Forget the calling thread's client (its connection failed). */
	void drop_thread_client();
	/*
	 * Hand the calling thread's client, whose one call is still under
	 * way, to the loop's thread, which drives it until that call ended
	 * and then frees it; the thread makes a new client for its next
	 * call.  With the loop's lock held.  NULL: not possible (the thread
	 * keeps it).
	 */
	Parked *park();
	/* Free @p once its call ended (loop's lock held). */
	void unpark_if_idle(Parked *p);
	/* Stop watching @p and free it (already out of parked_). */
	void unpark(Parked *p);
	/* Deliver what came for @p, and free it if that ended its call. */
	void parked_process(Parked *p);

	grpc::ServerGenericBidiReactor *CreateReactor(
		grpc::GenericCallbackServerContext *ctx) override;

	Loop *loop() { return loop_; }
	lrpc_rpc_client *client() { return rc_; }
	void broadcast(const Interface *gi, const std::string &data);
	void add_watcher(const Interface *gi, WatchCall *w);
	void remove_watcher(const Interface *gi, WatchCall *w);

private:
	struct Route {
		ExportIface *ei;
		const Method *m;   /* NULL: the Watch stream */
	};

	static void on_parked_fd(int fd, uint32_t revents, void *data);
	static void on_parked_timer(void *data);

	Loop *loop_;
	const Policy *policy_;
	lrpc_rpc_client *rc_ = nullptr;
	std::set<Parked *> parked_;   /* loop's lock */
	std::string service_;
	lrpc_client_opts copts_ = {};
	std::vector<std::unique_ptr<ExportIface>> ifaces_;
	std::map<std::string, Route> routes_;
	std::mutex wmu_;
	std::map<const Interface *, std::set<WatchCall *>> watchers_;
};

class ImportWatch;

struct ImportIface {
	class Importer *im;
	const Interface *gi;
	std::string module;
	std::vector<lrpc_rpc_invoke_fn> invoke;
	lrpc_rpc_dispatch table;

	/* The remote Watch stream (loop thread): the one open or opening
	 * (NULL: none), the timer that opens the next one, ends in a row
	 * that came too soon after the open, and whether events were
	 * lost since the last one opened. */
	ImportWatch *watch = nullptr;
	void *rewatch_timer = nullptr;
	unsigned watch_failures = 0;
	bool watch_lost = false;
};

/* A gRPC call import has under way; the loop thread's. */
class ImportOp {
public:
	virtual ~ImportOp() = default;
	/* End it now (the shutdown): its lrpc caller gets an error. */
	virtual void cancel() = 0;
};

class Importer {
public:
	Importer(Loop *loop, std::shared_ptr<grpc::Channel> channel)
		: loop_(loop), stub_(std::move(channel)) {}
	~Importer();

	/* Serve every interface of the linked modules on @s.  Loop thread. */
	int serve(lrpc_server *s);
	/*
	 * Stop (loop thread, running the loop): new calls are refused
	 * (lrpc.Busy), the Watch streams end, and the calls under way have
	 * @usec to finish; those left are then cancelled and waited for up
	 * to a second more.  Returns how many were cancelled.
	 */
	size_t shutdown(uint64_t usec);

	Loop *loop() { return loop_; }
	lrpc_server *server() { return server_; }
	grpc::GenericStub &stub() { return stub_; }
	bool stopping() const { return stopping_; }
	void add(ImportOp *op) { ops_.insert(op); }
	void remove(ImportOp *op);
	/* Open the remote Watch stream of @ii. */
	void watch(ImportIface *ii);
	void watch_opened(ImportIface *ii);
	void watch_ended(ImportIface *ii, const grpc::Status &s,
			 std::chrono::steady_clock::duration open_for);
	/* Remote Watch streams that ended, each a window of lost events. */
	uint64_t watch_gaps() const { return watch_gaps_; }

private:
	static void rewatch(void *data);
	static void on_deadline(void *data);
	bool idle() const;
	void wait(uint64_t usec);

	Loop *loop_;
	grpc::GenericStub stub_;
	lrpc_server *server_ = nullptr;
	std::vector<std::unique_ptr<ImportIface>> ifaces_;
	std::set<ImportOp *> ops_;
	bool stopping_ = false;
	uint64_t watch_gaps_ = 0;
};

/*
 * The program's own messages go where the library's do: main() installs
 * one function as lrpc's log hook (lrpc_set_log_hook()) and here.
 */
void set_log(lrpc_log_fn fn, lrpc_log_level max_level, void *userdata);
void log_message(lrpc_log_level level, const std::string &msg);

} // namespace lrpc_grpc

#endif
