/*
 * gateway.cc - the module-independent part of the gRPC gateway: checked
 * conversion helpers, error mapping, the access policy, and the export
 * and import sides driven by the tables lrpc-gen writes per module.
 */
#include "gateway.hh"

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <grpcpp/security/auth_context.h>

namespace lrpc_grpc {

std::vector<Module> &
modules()
{
	static std::vector<Module> all;
	return all;
}

static lrpc_log_fn log_fn;
static lrpc_log_level log_max = LRPC_LOG_WARNING;
static void *log_data;

void
set_log(lrpc_log_fn fn, lrpc_log_level max_level, void *userdata)
{
	log_fn = fn;
	log_max = max_level;
	log_data = userdata;
}

void
log_message(lrpc_log_level level, const std::string &msg)
{
	if (log_fn && level <= log_max)
		log_fn(level, msg.c_str(), log_data);
}

/* ------------------------------------------------------------------------ */
/* Conversions                                                              */
/* ------------------------------------------------------------------------ */

static bool
valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and beyond U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

bool
Conv::str(const std::string &s, uint32_t max, const char **out,
	  const char *what)
{
	if (max && s.size() > max)
		return fail(std::string(what) + ": longer than " +
			    std::to_string(max) + " bytes");
	if (memchr(s.data(), '\0', s.size()))
		return fail(std::string(what) + ": a NUL in a string");
	if (!valid_utf8(reinterpret_cast<const unsigned char *>(s.data()),
			s.size()))
		return fail(std::string(what) + ": invalid UTF-8");
	*out = s.c_str();
	return true;
}

bool
Conv::bytes(const std::string &s, uint32_t max, lrpc_bytes *out,
	    const char *what)
{
	if (max && s.size() > max)
		return fail(std::string(what) + ": longer than " +
			    std::to_string(max) + " bytes");
	out->data = reinterpret_cast<const uint8_t *>(s.data());
	out->len = s.size();
	return true;
}

std::string
flatten(const grpc::ByteBuffer &bb)
{
	std::vector<grpc::Slice> slices;
	std::string out;

	if (!bb.Dump(&slices).ok())
		return out;
	for (const auto &s : slices)
		out.append(reinterpret_cast<const char *>(s.begin()), s.size());
	return out;
}

void
fill(grpc::ByteBuffer *bb, const std::string &data)
{
	grpc::Slice s(data);
	grpc::ByteBuffer tmp(&s, 1);
	bb->Swap(&tmp);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Just enough of the protobuf wire format for google.rpc.Status, Any and
 * LrpcError, which are not in Debian's protobuf headers. */
static void
put_varint(std::string &s, uint64_t v)
{
	while (v >= 0x80) {
		s.push_back(static_cast<char>(v | 0x80));
		v >>= 7;
	}
	s.push_back(static_cast<char>(v));
}

static void
put_bytes(std::string &s, unsigned field, const std::string &v)
{
	put_varint(s, field << 3 | 2);
	put_varint(s, v.size());
	s += v;
}

static void
put_int(std::string &s, unsigned field, int64_t v)
{
	put_varint(s, field << 3);
	put_varint(s, static_cast<uint64_t>(v));
}

/* Calls @fn(field, wiretype, varint, bytes) per field; false if broken. */
static bool
parse_fields(const std::string &s,
	     const std::function<void(unsigned, unsigned, uint64_t,
				      const std::string &)> &fn)
{
	size_t i = 0;

	auto varint = [&](uint64_t *v) {
		*v = 0;
		for (unsigned shift = 0; shift < 64; shift += 7) {
			if (i >= s.size())
				return false;
			uint8_t b = static_cast<uint8_t>(s[i++]);
			*v |= static_cast<uint64_t>(b & 0x7f) << shift;
			if (!(b & 0x80))
				return true;
		}
		return false;
	};
	while (i < s.size()) {
		uint64_t key, v = 0;
		std::string bytes;

		if (!varint(&key))
			return false;
		switch (key & 7) {
		case 0:
			if (!varint(&v))
				return false;
			break;
		case 1:
			if (s.size() - i < 8)
				return false;
			i += 8;
			break;
		case 2:
			if (!varint(&v) || v > s.size() - i)
				return false;
			bytes = s.substr(i, v);
			i += v;
			break;
		case 5:
			if (s.size() - i < 4)
				return false;
			i += 4;
			break;
		default:
			return false;
		}
		fn(static_cast<unsigned>(key >> 3), key & 7, v, bytes);
	}
	return true;
}

grpc::Status
make_status(const char *module, grpc::StatusCode code,
	    const std::string &name, int lrpc_code, const std::string &message)
{
	std::string err, any, status;
	/* The status message is for people: the error's name when lrpc had
	 * no message; the detail keeps the lrpc message as it was. */
	const std::string &text = message.empty() ? name : message;

	put_bytes(err, 1, name);
	put_int(err, 2, lrpc_code);
	put_bytes(err, 3, message);
	put_bytes(any, 1, std::string("type.googleapis.com/") + module +
		  ".LrpcError");
	put_bytes(any, 2, err);
	put_int(status, 1, code);
	put_bytes(status, 2, text);
	put_bytes(status, 3, any);
	return grpc::Status(code, text, status);
}

struct ErrorKind {
	const char *name;
	grpc::StatusCode code;
	int err;           /* the errno it stands for in the other direction */
};

static const ErrorKind error_kinds[] = {
	{ "lrpc.InvalidArgument", grpc::INVALID_ARGUMENT, EINVAL },
	{ "lrpc.NoSuchMethod", grpc::UNIMPLEMENTED, EOPNOTSUPP },
	{ "lrpc.NewerThanPeer", grpc::UNIMPLEMENTED, EPROTONOSUPPORT },
	{ "lrpc.InterfaceMismatch", grpc::UNIMPLEMENTED, EPROTO },
	{ "lrpc.Timeout", grpc::DEADLINE_EXCEEDED, ETIMEDOUT },
	{ "lrpc.Cancelled", grpc::CANCELLED, ECANCELED },
	{ "lrpc.AccessDenied", grpc::PERMISSION_DENIED, EPERM },
	{ "lrpc.MessageTooLarge", grpc::RESOURCE_EXHAUSTED, EMSGSIZE },
	{ "lrpc.Busy", grpc::UNAVAILABLE, EBUSY },
	{ "lrpc.BadMessage", grpc::INTERNAL, EBADMSG },
};

static const ErrorKind *
kind_by_errno(int e)
{
	switch (e) {
	case EACCES:
		e = EPERM;
		break;
	case E2BIG:
		e = EMSGSIZE;
		break;
	default:
		break;
	}
	for (const auto &k : error_kinds)
		if (k.err == e)
			return &k;
	return nullptr;
}

grpc::Status
status_from_lrpc(const char *module, int code, const lrpc_rpc_error *err)
{
	std::string message = err && err->message[0] ? err->message : "";

	if (code > 0)
		return make_status(module, grpc::FAILED_PRECONDITION,
				   err && err->name ? err->name :
				   "lrpc.UnknownError", code, message);
	int e = -code;
	if (message.empty())
		message = strerror(e);
	if (err && err->name) {
		for (const auto &k : error_kinds)
			if (strcmp(k.name, err->name) == 0)
				return make_status(module, k.code, k.name, e,
						   message);
	}
	const ErrorKind *k = kind_by_errno(e);
	if (k)
		return make_status(module, k->code, k->name, e, message);
	/* The service not reachable. */
	if (e == ENOTCONN || e == ECONNREFUSED || e == ECONNRESET ||
	    e == EPIPE || e == ENOENT || e == EAGAIN)
		return make_status(module, grpc::UNAVAILABLE, "lrpc.Errno", e,
				   message);
	return make_status(module, grpc::UNKNOWN, "lrpc.Errno", e, message);
}

int
errno_from_status(const grpc::Status &s, const lrpc_rpc_method *method,
		  std::string *message)
{
	std::string name;
	int64_t code = 0;
	bool have = false;

	*message = s.error_message();
	parse_fields(s.error_details(), [&](unsigned f, unsigned wt, uint64_t,
					   const std::string &any) {
		if (f != 3 || wt != 2 || have)
			return;
		parse_fields(any, [&](unsigned af, unsigned awt, uint64_t,
				      const std::string &val) {
			if (af != 2 || awt != 2)
				return;
			have = true;
			parse_fields(val, [&](unsigned ef, unsigned ewt,
					      uint64_t v,
					      const std::string &b) {
				if (ef == 1 && ewt == 2)
					name = b;
				else if (ef == 3 && ewt == 2)
					*message = b;
				else if (ef == 2 && ewt == 0)
					code = static_cast<int32_t>(v);
			});
		});
	});
	if (s.error_code() == grpc::FAILED_PRECONDITION && have && code > 0) {
		for (uint32_t i = 0; i < method->n_errors; i++)
			if (method->errors[i].value == code)
				return static_cast<int>(code);
	}
	if (have) {
		for (const auto &k : error_kinds)
			if (name == k.name)
				return -k.err;
		if (name == "lrpc.Errno" && code > 0 && code < 4096)
			return -static_cast<int>(code);
	}
	switch (s.error_code()) {
	case grpc::DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case grpc::CANCELLED:
		return -ECANCELED;
	case grpc::UNIMPLEMENTED:
		return -EOPNOTSUPP;
	case grpc::PERMISSION_DENIED:
	case grpc::UNAUTHENTICATED:
		return -EPERM;
	case grpc::INVALID_ARGUMENT:
	case grpc::OUT_OF_RANGE:
		return -EINVAL;
	case grpc::RESOURCE_EXHAUSTED:
		return -EMSGSIZE;
	case grpc::UNAVAILABLE:
		return -EHOSTUNREACH;
	case grpc::INTERNAL:
	case grpc::DATA_LOSS:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

/* ------------------------------------------------------------------------ */
/* Loop                                                                     */
/* ------------------------------------------------------------------------ */

Loop::~Loop()
{
	if (loop_ && efd_ >= 0)
		lrpc_loop_del_fd(loop_, efd_);
	if (efd_ >= 0)
		close(efd_);
	lrpc_loop_unref(loop_);
}

int
Loop::init()
{
	int r = lrpc_loop_new(&loop_);
	if (r < 0)
		return r;
	efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd_ < 0)
		return -errno;
	return lrpc_loop_add_fd(loop_, efd_, LRPC_POLL_IN, on_wake, this);
}

void
Loop::post(std::function<void()> fn)
{
	{
		std::lock_guard<std::mutex> lock(mu_);
		queue_.push_back(std::move(fn));
	}
	uint64_t one = 1;
	ssize_t n = write(efd_, &one, sizeof(one));
	(void)n;   /* EAGAIN: the counter is set already */
}

int
Loop::run()
{
	struct pollfd pfd = { lrpc_loop_get_fd(loop_), POLLIN, 0 };

	while (!quit_) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		std::lock_guard<std::recursive_mutex> lock(lrpc_mu_);
		int r = lrpc_loop_run_once(loop_, 0);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return 0;
}

void
Loop::on_wake(int fd, uint32_t revents, void *data)
{
	Loop *self = static_cast<Loop *>(data);
	std::deque<std::function<void()>> jobs;
	uint64_t v;

	(void)revents;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
	{
		std::lock_guard<std::mutex> lock(self->mu_);
		jobs.swap(self->queue_);
	}
	for (auto &job : jobs)
		job();
}

/* ------------------------------------------------------------------------ */
/* Policy                                                                   */
/* ------------------------------------------------------------------------ */

int
Policy::load(const std::string &path, std::string *err)
{
	std::ifstream in(path);
	std::string line;
	unsigned n = 0;

	if (!in) {
		*err = path + ": " + strerror(errno);
		return -ENOENT;
	}
	while (std::getline(in, line)) {
		n++;
		size_t hash = line.find('#');
		if (hash != std::string::npos)
			line.erase(hash);
		std::istringstream words(line);
		std::string identity, method;
		if (!(words >> identity))
			continue;
		bool any = false;
		while (words >> method) {
			add(identity, method);
			any = true;
		}
		if (!any) {
			*err = path + ":" + std::to_string(n) +
			       ": an identity without methods";
			return -EINVAL;
		}
	}
	if (rules_.empty()) {
		*err = path + ": no rules (nobody could call anything)";
		return -EINVAL;
	}
	return 0;
}

void
Policy::add(const std::string &identity, const std::string &method)
{
	rules_.emplace_back(identity, method);
}

static bool
method_matches(const std::string &pattern, const std::string &method)
{
	if (pattern == "*" || pattern == method)
		return true;
	if (pattern.size() >= 2 &&
	    pattern.compare(pattern.size() - 2, 2, ".*") == 0) {
		size_t n = pattern.size() - 1;   /* "kv.Store." */
		return method.size() > n && method.compare(0, n, pattern, 0,
							   n) == 0 &&
		       method.find('.', n) == std::string::npos;
	}
	return false;
}

bool
Policy::allows(const std::string &identity, const std::string &method) const
{
	if (rules_.empty())
		return true;
	for (const auto &r : rules_)
		if ((r.first == "*" || r.first == identity) &&
		    method_matches(r.second, method))
			return true;
	return false;
}

static std::string
peer_identity(grpc::ServerContextBase *ctx)
{
	auto auth = ctx->auth_context();
	if (auth) {
		auto cn = auth->FindPropertyValues("x509_common_name");
		if (!cn.empty())
			return std::string(cn.front().data(), cn.front().size());
	}
	return "anonymous";
}

/* ------------------------------------------------------------------------ */
/* Export                                                                   */
/* ------------------------------------------------------------------------ */

namespace {

/* A call refused before it reached lrpc. */
class Refusal final : public grpc::ServerGenericBidiReactor {
public:
	explicit Refusal(const grpc::Status &s) { Finish(s); }
	void OnDone() override { delete this; }
};

/*
 * One gRPC call that becomes one lrpc call: a unary rpc, or a
 * server-streaming rpc of a STREAM method, whose items are written in
 * order and whose end becomes the status.
 *
 * A stream's items are held (lrpc_rpc_client_set_stream_hold()) and
 * consumed as their gRPC writes complete: the lrpc server sends no more
 * than the client's window ahead of the gRPC reader, and that window is
 * all the gateway queues per stream.
 */
class UnaryCall final : public grpc::ServerGenericBidiReactor {
public:
	UnaryCall(Exporter *ex, ExportIface *ei, const Method *m,
		  grpc::GenericCallbackServerContext *ctx)
		: ex_(ex), ei_(ei), m_(m), ctx_(ctx)
	{
		lrpc_arena_init(&arena_, nullptr, 0, LRPC_ARENA_UNLIMITED);
		StartRead(&in_);
	}

	~UnaryCall() override { lrpc_arena_done(&arena_); }

	void OnReadDone(bool ok) override;
	void OnCancel() override;
	void OnWriteDone(bool ok) override;
	/* The loop may still hold references (jobs posted, the lrpc call's
	 * completion): the last one deletes. */
	void OnDone() override { release(); }

private:
	static void on_complete(lrpc_rpc_client *rc, int status,
				const void *rep, const lrpc_rpc_error *error,
				void (*fn)(void), void *userdata);
	static void on_direct(lrpc_rpc_client *rc, int status,
			      const void *rep, const lrpc_rpc_error *error,
			      void (*fn)(void), void *userdata);
	bool call_direct();
	bool park(uint64_t id);
	bool ended()
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		return finished_;
	}
	/* These two run with the loop's lock held. */
	void start();
	void cancel();
	void complete(int status, const void *rep, const lrpc_rpc_error *e);
	/* Ends the call once; false if it had ended.  @drop: a stream's
	 * items not written yet are dropped (a cancel), else they go first
	 * (an end). */
	bool finish(const grpc::Status &s, const std::string *body,
		    bool drop = false);
	static void on_item(lrpc_rpc_client *rc, const void *item,
			    void (*fn)(void), void *userdata);
	void item(const void *item);
	/* Streams: write the next queued item; mu_ held. */
	void write_next();
	bool streaming() const { return m_->kind == LRPC_RPC_STREAM; }
	const lrpc_rpc_method *method() const
	{
		return &ei_->gi->iface->methods[m_->index];
	}

	Exporter *ex_;
	ExportIface *ei_;
	const Method *m_;
	grpc::GenericCallbackServerContext *ctx_;
	grpc::ByteBuffer in_, out_;
	std::unique_ptr<google::protobuf::Message> req_;
	std::vector<max_align_t> creq_;
	lrpc_arena arena_;
	uint64_t timeout_ = LRPC_TIMEOUT_DEFAULT;

	/*
	 * The call ends once, from whichever thread sees the end first.
	 * The lrpc side (call id, in flight) is used with the loop's lock
	 * held; a pending lrpc completion holds a reference (@pending_)
	 * that keeps the object after OnDone until it ran.
	 */
	std::recursive_mutex mu_;
	bool finished_ = false;
	int pending_ = 1;               /* gRPC's own, dropped in OnDone */
	bool in_flight_ = false;
	uint64_t call_id_ = 0;
	bool direct_done_ = false;      /* call_direct()'s reply came */
	/* The client the lrpc call is on: the loop's, or a parked one. */
	lrpc_rpc_client *call_rc_ = nullptr;
	Parked *parked_ = nullptr;

	/* Streams, under mu_: items not yet written (at most the lrpc
	 * window), the first one being written when writing_; the status
	 * to end with once they are. */
	std::deque<std::string> queue_;
	bool writing_ = false;
	std::unique_ptr<grpc::Status> final_;

	void hold()
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		pending_++;
	}
	void release()
	{
		bool last;
		{
			std::lock_guard<std::recursive_mutex> lock(mu_);
			last = --pending_ == 0;
		}
		if (last)
			delete this;
	}
};

} // namespace

void
UnaryCall::OnReadDone(bool ok)
{
	const char *module = ei_->module.c_str();

	if (!ok) {
		finish(grpc::Status(grpc::INVALID_ARGUMENT, "no request"),
		       nullptr);
		return;
	}
	req_.reset(m_->new_req());
	std::string data = flatten(in_);
	if (!req_->ParseFromString(data)) {
		finish(make_status(module, grpc::INVALID_ARGUMENT,
				   "lrpc.InvalidArgument", EINVAL,
				   "the request does not decode as " +
				   req_->GetTypeName()), nullptr);
		return;
	}
	creq_.assign((m_->req_size + sizeof(max_align_t) - 1) /
		     sizeof(max_align_t) + 1, max_align_t());
	Conv cv(&arena_);
	if (!m_->req_get(cv, *req_, creq_.data())) {
		finish(make_status(module, grpc::INVALID_ARGUMENT,
				   "lrpc.InvalidArgument", EINVAL, cv.error()),
		       nullptr);
		return;
	}
	auto deadline = ctx_->deadline();
	if (deadline != std::chrono::system_clock::time_point::max()) {
		auto left = std::chrono::duration_cast<
			std::chrono::microseconds>(
			deadline - std::chrono::system_clock::now()).count();
		if (left <= 0) {
			finish(make_status(module, grpc::DEADLINE_EXCEEDED,
					   "lrpc.Timeout", ETIMEDOUT,
					   "the deadline passed"), nullptr);
			return;
		}
		timeout_ = static_cast<uint64_t>(left);
	}
	hold();
	if (m_->kind == LRPC_RPC_CALL && call_direct()) {
		release();
		return;
	}
	{
		std::lock_guard<std::recursive_mutex> lock(ex_->loop()->lock());
		start();
	}
	release();
}

void
UnaryCall::OnCancel()
{
	std::lock_guard<std::recursive_mutex> lock(ex_->loop()->lock());
	cancel();
}

bool
UnaryCall::finish(const grpc::Status &s, const std::string *body, bool drop)
{
	std::lock_guard<std::recursive_mutex> lock(mu_);
	if (finished_)
		return false;
	finished_ = true;
	if (streaming() && drop)
		queue_.clear();
	if (streaming() && (writing_ || !queue_.empty())) {
		/* The items first (and one operation at a time): OnWriteDone
		 * ends the call. */
		final_.reset(new grpc::Status(s));
		return true;
	}
	if (body && s.ok()) {
		fill(&out_, *body);
		StartWriteAndFinish(&out_, grpc::WriteOptions(), s);
	} else {
		Finish(s);
	}
	return true;
}

void
UnaryCall::start()
{
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		if (finished_)
			return;
	}
	bool oneway = m_->kind == LRPC_RPC_ONEWAY;
	if (!oneway)
		hold();   /* for on_complete */
	int r;
	if (streaming())
		r = lrpc_rpc_client_call_stream(ex_->client(), ei_->gi->iface,
						method(), creq_.data(),
						on_item, nullptr,
						on_complete, nullptr, this,
						timeout_, &call_id_);
	else
		r = lrpc_rpc_client_call_async(ex_->client(), ei_->gi->iface,
					       method(), creq_.data(),
					       oneway ? nullptr : on_complete,
					       nullptr, this, timeout_,
					       &call_id_);
	if (r < 0) {
		if (!oneway)
			release();
		finish(status_from_lrpc(ei_->module.c_str(), r, nullptr),
		       nullptr);
		return;
	}
	if (oneway) {
		std::unique_ptr<google::protobuf::Message> empty(m_->new_rep());
		std::string body = empty->SerializeAsString();
		finish(grpc::Status::OK, &body);
		return;
	}
	in_flight_ = true;
	call_rc_ = ex_->client();
	/* Before the loop runs again: no item has come yet. */
	if (streaming())
		lrpc_rpc_client_set_stream_hold(ex_->client(), call_id_);
}

/*
 * A unary call made from this gRPC thread on its own RPC client, the
 * reply awaited here and the gRPC call finished here: neither the request
 * nor the reply nor the write goes through another thread (each such hand
 * over was a wake-up on the way; docs/remote.md, "Performance").  The
 * wait is in slices, so that a cancel (or the client's deadline) still
 * reaches the lrpc handler's abandon handler.  False: no client, the
 * loop's path takes the call.
 */
bool
UnaryCall::call_direct()
{
	/* Between two looks for a cancel. */
	const uint64_t slice = 2 * LRPC_USEC_PER_MSEC;
	lrpc_rpc_client *rc = ex_->thread_client();
	uint64_t id = 0;

	if (!rc)
		return false;
	int r = lrpc_rpc_client_call_async(rc, ei_->gi->iface, method(),
					   creq_.data(), on_direct, nullptr,
					   this, timeout_, &id);
	if (r < 0) {
		if (r == -ENOTCONN || r == -EPIPE || r == -ECONNRESET) {
			/* Nothing went out: the loop's client, which
			 * reconnects, takes it. */
			ex_->drop_thread_client();
			return false;
		}
		finish(status_from_lrpc(ei_->module.c_str(), r, nullptr),
		       nullptr);
		return true;
	}
	/* The reply of a quick handler comes within a wake-up's time:
	 * waiting for it awake saves this thread's sleep and wake-up. */
	auto now = std::chrono::steady_clock::now();
	auto spin_end = now + std::chrono::microseconds(50);
	auto park_at = now + std::chrono::microseconds(slice);
	while (!direct_done_ &&
	       std::chrono::steady_clock::now() < spin_end)
		if (lrpc_rpc_client_process(rc) < 0)
			break;
	while (!direct_done_) {
		if (ended() || ctx_->IsCancelled()) {
			lrpc_rpc_client_cancel(rc, id);
			finish(make_status(ei_->module.c_str(), grpc::CANCELLED,
					   "lrpc.Cancelled", ECANCELED,
					   "cancelled by the client"),
			       nullptr, true);
			break;
		}
		if (std::chrono::steady_clock::now() >= park_at && park(id))
			return true;
		r = lrpc_rpc_client_run_once(rc, slice);
		if (r < 0 && r != -EINTR && !direct_done_) {
			/* Not -ENOTCONN (the reply's callback ran with it). */
			lrpc_rpc_client_cancel(rc, id);
			finish(status_from_lrpc(ei_->module.c_str(), r,
						nullptr), nullptr);
			break;
		}
	}
	if (!lrpc_client_is_connected(lrpc_rpc_client_get_client(rc)))
		ex_->drop_thread_client();
	return true;
}

/*
 * A call still under way after the first slice (a handler that defers
 * its reply, a slow one) must not keep this gRPC thread: gRPC has few,
 * and calls waiting in all of them would keep every other call (and the
 * cancels) from being served.  The loop's thread takes the call over
 * with its client; this thread makes a new client for its next call.
 */
bool
UnaryCall::park(uint64_t id)
{
	std::lock_guard<std::recursive_mutex> lock(ex_->loop()->lock());
	Parked *p = ex_->park();

	if (!p)
		return false;
	hold();   /* for on_direct, or dropped by a cancel */
	call_rc_ = p->rc;
	call_id_ = id;
	parked_ = p;
	in_flight_ = true;
	/* A cancel that came meanwhile found nothing in flight. */
	if (ended()) {
		cancel();
		return true;
	}
	/* A reply that came since the last look wakes nobody: take it. */
	ex_->parked_process(p);
	return true;
}

void
UnaryCall::on_direct(lrpc_rpc_client *rc, int status, const void *rep,
		     const lrpc_rpc_error *error, void (*fn)(void),
		     void *userdata)
{
	UnaryCall *self = static_cast<UnaryCall *>(userdata);

	(void)rc;
	(void)fn;
	if (!self->parked_) {
		self->direct_done_ = true;
		self->complete(status, rep, error);
		return;
	}
	/* Parked: the loop's thread, which frees the client afterwards. */
	self->in_flight_ = false;
	self->parked_ = nullptr;
	self->complete(status, rep, error);
	self->release();
}

void
UnaryCall::on_complete(lrpc_rpc_client *rc, int status, const void *rep,
		       const lrpc_rpc_error *error, void (*fn)(void),
		       void *userdata)
{
	UnaryCall *self = static_cast<UnaryCall *>(userdata);

	(void)rc;
	(void)fn;
	self->in_flight_ = false;
	self->complete(status, rep, error);
	self->release();
}

void
UnaryCall::complete(int status, const void *rep, const lrpc_rpc_error *e)
{
	if (status != 0) {
		finish(status_from_lrpc(ei_->module.c_str(), status, e),
		       nullptr);
		return;
	}
	if (streaming()) {
		finish(grpc::Status::OK, nullptr);
		return;
	}
	std::unique_ptr<google::protobuf::Message> msg(m_->new_rep());
	m_->rep_put(rep, msg.get());
	std::string body;
	if (!msg->SerializeToString(&body)) {
		finish(make_status(ei_->module.c_str(), grpc::INTERNAL,
				   "lrpc.BadMessage", EBADMSG,
				   "the reply does not encode"), nullptr);
		return;
	}
	finish(grpc::Status::OK, &body);
}

void
UnaryCall::on_item(lrpc_rpc_client *rc, const void *item, void (*fn)(void),
		   void *userdata)
{
	(void)rc;
	(void)fn;
	static_cast<UnaryCall *>(userdata)->item(item);
}

void
UnaryCall::item(const void *item)
{
	std::unique_ptr<google::protobuf::Message> msg(m_->new_rep());
	m_->rep_put(item, msg.get());
	std::string body;
	if (!msg->SerializeToString(&body))
		body.clear();   /* cannot happen: every field is set from C */
	std::lock_guard<std::recursive_mutex> lock(mu_);
	if (finished_)
		return;
	queue_.push_back(std::move(body));
	if (!writing_)
		write_next();
}

void
UnaryCall::write_next()
{
	writing_ = true;
	fill(&out_, queue_.front());
	StartWrite(&out_);
}

void
UnaryCall::OnWriteDone(bool ok)
{
	bool written = false;
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		writing_ = false;
		if (!queue_.empty()) {
			queue_.pop_front();
			written = ok;
		}
		if (ok && !queue_.empty()) {
			write_next();
		} else {
			if (!ok)   /* the call is broken: OnCancel follows */
				queue_.clear();
			if (final_) {
				Finish(*final_);
				final_.reset();
			}
		}
	}
	if (!written)
		return;
	/* Room for one more item: the lrpc server may send it.  Not under
	 * mu_, which the loop takes under its own lock. */
	std::lock_guard<std::recursive_mutex> lock(ex_->loop()->lock());
	if (in_flight_)
		lrpc_rpc_client_release_stream_items(ex_->client(), call_id_, 1);
}

void
UnaryCall::cancel()
{
	if (in_flight_ && lrpc_rpc_client_cancel(call_rc_, call_id_) == 0) {
		/* The completion will never run: drop its reference. */
		in_flight_ = false;
		if (parked_)
			ex_->unpark_if_idle(parked_);
		parked_ = nullptr;
		std::lock_guard<std::recursive_mutex> lock(mu_);
		pending_--;
	}
	finish(make_status(ei_->module.c_str(), grpc::CANCELLED,
			   "lrpc.Cancelled", ECANCELED,
			   "cancelled by the client"), nullptr, true);
}

class WatchCall final : public grpc::ServerGenericBidiReactor {
public:
	WatchCall(Exporter *ex, const Interface *gi) : ex_(ex), gi_(gi)
	{
		ex_->add_watcher(gi_, this);
		/* Tells the client the stream is set up: events from now on
		 * reach it. */
		StartSendInitialMetadata();
	}

	void push(const std::string &data)
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		if (finished_)
			return;
		if (queue_.size() >= 1024) {
			/* A reader this slow would hold the gateway's memory:
			 * it is told instead of silently losing events. */
			finished_ = true;
			Finish(grpc::Status(grpc::RESOURCE_EXHAUSTED,
					    "the watcher fell behind"));
			return;
		}
		queue_.push_back(data);
		if (!writing_)
			write_next();
	}

	void OnWriteDone(bool ok) override
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		writing_ = false;
		if (!queue_.empty())
			queue_.pop_front();
		if (!ok || finished_)
			return;
		if (!queue_.empty())
			write_next();
	}

	void OnSendInitialMetadataDone(bool) override {}

	void OnCancel() override
	{
		std::lock_guard<std::recursive_mutex> lock(mu_);
		if (!finished_) {
			finished_ = true;
			Finish(grpc::Status::CANCELLED);
		}
	}

	void OnDone() override
	{
		ex_->remove_watcher(gi_, this);
		delete this;
	}

private:
	void write_next()
	{
		writing_ = true;
		fill(&out_, queue_.front());
		StartWrite(&out_);
	}

	Exporter *ex_;
	const Interface *gi_;
	std::recursive_mutex mu_;
	std::deque<std::string> queue_;
	grpc::ByteBuffer out_;
	bool writing_ = false;
	bool finished_ = false;
};

void
notify(const Method *m, void *userdata, const void *args)
{
	ExportIface *ei = static_cast<ExportIface *>(userdata);
	std::unique_ptr<google::protobuf::Message> msg(ei->gi->new_event());
	const google::protobuf::FieldDescriptor *fd =
		msg->GetDescriptor()->FindFieldByNumber(m->event_field);

	if (!fd)
		return;
	google::protobuf::Message *sub =
		msg->GetReflection()->MutableMessage(msg.get(), fd);
	m->req_put(args, sub);
	ei->ex->broadcast(ei->gi, msg->SerializeAsString());
}

Exporter::~Exporter()
{
	std::set<Parked *> left;

	left.swap(parked_);
	for (Parked *p : left)
		unpark(p);
	lrpc_rpc_client_unref(rc_);
}

namespace {

/* A gRPC thread's own RPC client (Exporter::thread_client()); it goes
 * with the thread. */
struct ThreadClient {
	lrpc_rpc_client *rc = nullptr;
	~ThreadClient() { lrpc_rpc_client_unref(rc); }
};

thread_local ThreadClient thread_rc;

} // namespace

lrpc_rpc_client *
Exporter::thread_client()
{
	ThreadClient &tc = thread_rc;

	/* Events broadcast while the thread had no call wait in its
	 * connection: taken (and dropped: no listener) here, and a
	 * connection the service ended is found. */
	if (tc.rc && (lrpc_rpc_client_process(tc.rc) < 0 ||
		      !lrpc_client_is_connected(
			      lrpc_rpc_client_get_client(tc.rc))))
		drop_thread_client();
	if (tc.rc)
		return tc.rc;
	lrpc_client *c;
	if (lrpc_client_new(&c, service_.c_str(), &copts_) < 0)
		return nullptr;
	lrpc_rpc_client *rc = nullptr;
	int r = lrpc_rpc_client_new(&rc, c);
	lrpc_client_unref(c);
	if (r < 0)
		return nullptr;
	tc.rc = rc;
	return rc;
}

void
Exporter::drop_thread_client()
{
	ThreadClient &tc = thread_rc;

	tc.rc = lrpc_rpc_client_unref(tc.rc);
}

Parked *
Exporter::park()
{
	ThreadClient &tc = thread_rc;
	std::unique_ptr<Parked> p(new Parked{ this, tc.rc, -1, nullptr });

	p->fd = lrpc_rpc_client_get_fd(p->rc);
	if (p->fd < 0 || lrpc_loop_add_fd(loop_->get(), p->fd, LRPC_POLL_IN,
					  on_parked_fd, p.get()) < 0)
		return nullptr;
	/* The deadline of its call (a millisecond late: the client's clock
	 * must see it passed); the client then fails the call. */
	uint64_t usec = LRPC_TIMEOUT_INFINITE;
	if (lrpc_rpc_client_get_timeout(p->rc, &usec) == 0 &&
	    usec != LRPC_TIMEOUT_INFINITE &&
	    lrpc_loop_add_timer(loop_->get(), usec + 1000, on_parked_timer,
				p.get(), &p->timer) < 0) {
		lrpc_loop_del_fd(loop_->get(), p->fd);
		return nullptr;
	}
	tc.rc = nullptr;
	parked_.insert(p.get());
	return p.release();
}

void
Exporter::on_parked_fd(int fd, uint32_t revents, void *data)
{
	Parked *p = static_cast<Parked *>(data);

	(void)fd;
	(void)revents;
	p->ex->parked_process(p);
}

void
Exporter::on_parked_timer(void *data)
{
	Parked *p = static_cast<Parked *>(data);

	p->timer = nullptr;
	p->ex->parked_process(p);
}

/* Its reply, its deadline or the end of its connection. */
void
Exporter::parked_process(Parked *p)
{
	uint64_t usec = LRPC_TIMEOUT_INFINITE;

	if (lrpc_rpc_client_process(p->rc) < 0 ||
	    lrpc_rpc_client_get_n_pending(p->rc) == 0) {
		unpark_if_idle(p);
		return;
	}
	if (!p->timer && lrpc_rpc_client_get_timeout(p->rc, &usec) == 0 &&
	    usec != LRPC_TIMEOUT_INFINITE)
		lrpc_loop_add_timer(loop_->get(), usec + 1000, on_parked_timer,
				    p, &p->timer);
}

void
Exporter::unpark_if_idle(Parked *p)
{
	if (lrpc_rpc_client_get_n_pending(p->rc) != 0 &&
	    lrpc_client_is_connected(lrpc_rpc_client_get_client(p->rc)))
		return;
	parked_.erase(p);
	unpark(p);
}

/* Stop watching a parked client and free it (no longer in parked_). */
void
Exporter::unpark(Parked *p)
{
	lrpc_loop_del_fd(loop_->get(), p->fd);
	if (p->timer)
		lrpc_loop_del_timer(loop_->get(), p->timer);
	lrpc_rpc_client_unref(p->rc);
	delete p;
}

int
Exporter::start(const char *service, const lrpc_client_opts *opts)
{
	lrpc_client *c;
	int r;

	service_ = service;
	if (opts)
		copts_ = *opts;
	else
		copts_.struct_size = sizeof(copts_);
	r = lrpc_client_new(&c, service, opts);
	if (r < 0)
		return r;
	r = lrpc_rpc_client_new(&rc_, c);
	lrpc_client_unref(c);
	if (r < 0)
		return r;
	r = lrpc_rpc_client_attach_loop(rc_, loop_->get());
	if (r < 0)
		return r;
	/* A restarted service is reached again (calls fail with
	 * UNAVAILABLE meanwhile), with the listeners kept. */
	lrpc_rpc_reconnect_opts ro = {};
	ro.struct_size = sizeof(ro);
	ro.deadline_usec = LRPC_TIMEOUT_INFINITE;
	r = lrpc_rpc_client_set_reconnect(rc_, &ro);
	if (r < 0)
		return r;
	for (const Module &mod : modules()) {
		for (size_t i = 0; i < mod.n_ifaces; i++) {
			const Interface *gi = mod.ifaces[i];
			auto ei = std::make_unique<ExportIface>();
			ei->ex = this;
			ei->gi = gi;
			ei->module = mod.name;
			bool events = false;
			for (size_t k = 0; k < gi->n_methods; k++) {
				const Method *m = &gi->methods[k];
				ei->notify.push_back(m->notify);
				if (m->notify)
					events = true;
				if (m->path)
					routes_[m->path] = Route{ ei.get(), m };
			}
			if (gi->watch_path)
				routes_[gi->watch_path] = Route{ ei.get(),
								 nullptr };
			ei->table.struct_size = sizeof(ei->table);
			ei->table.iface = gi->iface;
			ei->table.notify = ei->notify.data();
			if (events) {
				r = lrpc_rpc_client_set_listener(
					rc_, &ei->table, ei.get(), ei.get());
				if (r < 0)
					return r;
			}
			ifaces_.push_back(std::move(ei));
		}
	}
	return 0;
}

grpc::ServerGenericBidiReactor *
Exporter::CreateReactor(grpc::GenericCallbackServerContext *ctx)
{
	auto it = routes_.find(ctx->method());
	if (it == routes_.end())
		return new Refusal(grpc::Status(grpc::UNIMPLEMENTED,
						"no such method: " +
						ctx->method()));
	const Route &route = it->second;
	std::string name = std::string(route.ei->gi->name) + "." +
			   (route.m ? route.m->name : "Watch");
	if (policy_->configured()) {
		std::string who = peer_identity(ctx);
		if (!policy_->allows(who, name))
			return new Refusal(make_status(
				route.ei->module.c_str(),
				grpc::PERMISSION_DENIED, "lrpc.AccessDenied",
				EPERM, who + " may not call " + name));
	}
	if (!route.m)
		return new WatchCall(this, route.ei->gi);
	return new UnaryCall(this, route.ei, route.m, ctx);
}

void
Exporter::broadcast(const Interface *gi, const std::string &data)
{
	std::lock_guard<std::mutex> lock(wmu_);
	for (WatchCall *w : watchers_[gi])
		w->push(data);
}

void
Exporter::add_watcher(const Interface *gi, WatchCall *w)
{
	std::lock_guard<std::mutex> lock(wmu_);
	watchers_[gi].insert(w);
}

void
Exporter::remove_watcher(const Interface *gi, WatchCall *w)
{
	std::lock_guard<std::mutex> lock(wmu_);
	watchers_[gi].erase(w);
}

/* ------------------------------------------------------------------------ */
/* Import                                                                   */
/* ------------------------------------------------------------------------ */

namespace {

/* One lrpc call forwarded as one gRPC call. */
struct ImportCall final : public ImportOp {
	ImportIface *ii;
	const Method *m;
	lrpc_rpc_call *call = nullptr;     /* NULL: oneway */
	grpc::ClientContext ctx;
	grpc::ByteBuffer req, rep;

	static void on_abandon(lrpc_rpc_call *call, void *userdata)
	{
		(void)call;
		static_cast<ImportCall *>(userdata)->ctx.TryCancel();
	}

	/* Its completion follows, with CANCELLED. */
	void cancel() override { ctx.TryCancel(); }

	void complete(const grpc::Status &s)   /* loop thread */
	{
		const lrpc_rpc_method *lm = &ii->gi->iface->methods[m->index];

		if (!call)
			return;
		if (!s.ok()) {
			std::string message;
			int code = errno_from_status(s, lm, &message);
			if (!message.empty())
				lrpc_rpc_call_set_error_message(
					call, message.c_str());
			lrpc_rpc_call_reply_error(call, code);
			return;
		}
		std::unique_ptr<google::protobuf::Message> msg(m->new_rep());
		lrpc_arena arena;
		lrpc_arena_init(&arena, nullptr, 0, LRPC_ARENA_UNLIMITED);
		std::vector<max_align_t> crep(
			(m->rep_size + sizeof(max_align_t) - 1) /
			sizeof(max_align_t) + 1, max_align_t());
		Conv cv(&arena);
		if (!msg->ParseFromString(flatten(rep))) {
			lrpc_rpc_call_set_error_message(
				call, "the reply does not decode");
			lrpc_rpc_call_reply_error(call, -EBADMSG);
		} else if (!m->rep_get(cv, *msg, crep.data())) {
			lrpc_rpc_call_set_error_message(call,
							cv.error().c_str());
			lrpc_rpc_call_reply_error(call, -EBADMSG);
		} else {
			lrpc_rpc_call_reply(call, crep.data());
		}
		lrpc_arena_done(&arena);
	}
};

/*
 * One lrpc stream forwarded as one server-streaming gRPC call: each gRPC
 * message becomes an lrpc item, in order, and the call's status the
 * stream's end.
 *
 * Flow control: the next gRPC message is read only once the item before
 * it went out.  An item the lrpc client has no room for (-EAGAIN) waits
 * in the gateway, the only one it holds, until the stream's writable
 * handler says the client granted more; meanwhile gRPC's own flow
 * control holds the remote back.  A hold (AddHold) keeps the call from
 * ending while no read is started.
 *
 * The state is the loop thread's: gRPC's reactions post to it, and the
 * object goes once both sides ended (OnDone, and the lrpc stream ended
 * or abandoned).
 */
class ImportStream final
	: public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
	  public ImportOp {
public:
	ImportStream(ImportIface *ii, const Method *m, lrpc_rpc_call *call,
		     const std::string &req)
		: ii_(ii), m_(m), stream_(lrpc_rpc_call_get_stream(call))
	{
		uint64_t left = LRPC_TIMEOUT_INFINITE;

		ii_->im->add(this);

		fill(&req_, req);
		if (lrpc_rpc_call_get_time_left(call, &left) == 0 &&
		    left != LRPC_TIMEOUT_INFINITE)
			ctx_.set_deadline(std::chrono::system_clock::now() +
					  std::chrono::microseconds(left));
		lrpc_rpc_call_set_abandon_handler(call, on_abandon, this);
		lrpc_rpc_stream_set_writable_handler(stream_, on_writable,
						     this);
		ii_->im->stub().PrepareBidiStreamingCall(
			&ctx_, m_->path, grpc::StubOptions(), this);
		AddHold();
		StartWriteLast(&req_, grpc::WriteOptions());
		start_read();
		StartCall();
	}

	void OnWriteDone(bool) override {}

	void OnReadDone(bool ok) override
	{
		std::string data;

		if (ok)
			data = flatten(in_);
		ii_->im->loop()->post([this, ok, data] { read_done(ok, data); });
	}

	void OnDone(const grpc::Status &s) override
	{
		ii_->im->loop()->post([this, s] { done(s); });
	}

	void cancel() override
	{
		if (stream_)
			lrpc_rpc_call_set_error_message(
				lrpc_rpc_stream_get_call(stream_),
				"the gateway is stopping");
		if (!done_) {
			cancel_grpc();   /* OnDone ends the stream */
			return;
		}
		/* Its last item still waits for room. */
		end_stream(-ECANCELED);
		maybe_delete();
	}

private:
	static void on_abandon(lrpc_rpc_call *call, void *userdata)
	{
		ImportStream *self = static_cast<ImportStream *>(userdata);

		(void)call;
		/* Nobody reads: the stream is freed, the remote told. */
		self->end_stream(0);
		self->cancel_grpc();
		self->maybe_delete();
	}

	static void on_writable(lrpc_rpc_stream *stream, void *userdata)
	{
		ImportStream *self = static_cast<ImportStream *>(userdata);

		(void)stream;
		if (!self->have_pending_)
			return;
		int r = self->send(self->pending_);
		if (r == -EAGAIN)
			return;
		self->have_pending_ = false;
		self->pending_.clear();
		if (r < 0) {
			self->broken(r);
		} else if (self->final_) {
			self->end_status(*self->final_);
			self->maybe_delete();
		} else {
			self->start_read();
		}
	}

	void start_read()
	{
		reading_ = true;
		StartRead(&in_);
	}

	void release_hold()
	{
		if (held_) {
			held_ = false;
			RemoveHold();
		}
	}

	void cancel_grpc()
	{
		if (done_)
			return;
		ctx_.TryCancel();
		/* A read under way ends (not ok), which releases the hold. */
		if (!reading_)
			release_hold();
	}

	/* One gRPC message to the lrpc client: 0, -EAGAIN (no room: try
	 * again when writable), or a -errno that ends the stream. */
	int send(const std::string &data)
	{
		lrpc_rpc_call *call = lrpc_rpc_stream_get_call(stream_);
		std::unique_ptr<google::protobuf::Message> msg(m_->new_rep());
		lrpc_arena arena;
		std::vector<max_align_t> item(
			(m_->rep_size + sizeof(max_align_t) - 1) /
			sizeof(max_align_t) + 1, max_align_t());
		int r;

		if (!msg->ParseFromString(data)) {
			lrpc_rpc_call_set_error_message(
				call, "an item does not decode");
			return -EBADMSG;
		}
		lrpc_arena_init(&arena, nullptr, 0, LRPC_ARENA_UNLIMITED);
		Conv cv(&arena);
		if (!m_->rep_get(cv, *msg, item.data())) {
			lrpc_rpc_call_set_error_message(call,
							cv.error().c_str());
			r = -EBADMSG;
		} else {
			r = lrpc_rpc_stream_send(stream_, item.data());
		}
		lrpc_arena_done(&arena);
		return r;
	}

	void read_done(bool ok, const std::string &data)
	{
		reading_ = false;
		if (!ok || !stream_) {
			/* The end (OnDone follows), or nobody reads. */
			release_hold();
			return;
		}
		int r = send(data);
		if (r == 0) {
			start_read();
		} else if (r == -EAGAIN) {
			pending_ = data;
			have_pending_ = true;
		} else {
			broken(r);
		}
	}

	/* The lrpc side cannot take the stream's items (an item that does
	 * not convert, or the client gone): end it, and the gRPC call. */
	void broken(int r)
	{
		end_stream(r);
		cancel_grpc();
		maybe_delete();
	}

	void done(const grpc::Status &s)
	{
		done_ = true;
		/* An item still waiting for room means the call was cancelled
		 * (the hold keeps its end from coming first): the item is
		 * dropped.  Should an OK end come anyway, the item goes first
		 * (on_writable). */
		if (stream_ && have_pending_ && s.ok()) {
			final_.reset(new grpc::Status(s));
			return;
		}
		end_status(s);
		maybe_delete();
	}

	void end_status(const grpc::Status &s)
	{
		if (!stream_)
			return;
		if (s.ok()) {
			end_stream(0);
			return;
		}
		std::string message;
		int code = errno_from_status(
			s, &ii_->gi->iface->methods[m_->index], &message);
		if (!message.empty())
			lrpc_rpc_call_set_error_message(
				lrpc_rpc_stream_get_call(stream_),
				message.c_str());
		end_stream(code);
	}

	/* Ends (0) or fails the lrpc stream, once; it is freed. */
	void end_stream(int code)
	{
		lrpc_rpc_stream *s = stream_;

		if (!s)
			return;
		stream_ = nullptr;
		have_pending_ = false;
		if (code == 0)
			(void)lrpc_rpc_stream_end(s);
		else
			(void)lrpc_rpc_stream_fail(s, code);
	}

	void maybe_delete()
	{
		if (!done_ || stream_)
			return;
		Importer *im = ii_->im;
		im->remove(this);
		delete this;
	}

	ImportIface *ii_;
	const Method *m_;
	lrpc_rpc_stream *stream_;    /* NULL once ended */
	grpc::ClientContext ctx_;
	grpc::ByteBuffer req_, in_;
	bool held_ = true;
	bool reading_ = false;
	bool done_ = false;          /* OnDone ran (in the loop) */
	bool have_pending_ = false;
	std::string pending_;        /* an item waiting for room */
	std::unique_ptr<grpc::Status> final_;
};

} // namespace

/*
 * The remote Watch stream of one interface, re-emitted locally.  It
 * waits for the remote to be reachable rather than failing at once
 * (wait for ready), so it opens as soon as the remote is back.  The
 * Importer (loop thread) decides when the next one opens.
 */
class ImportWatch final
	: public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
public:
	explicit ImportWatch(ImportIface *ii) : ii_(ii)
	{
		std::string empty;
		fill(&req_, empty);
		ctx_.set_wait_for_ready(true);
		ii_->im->stub().PrepareBidiStreamingCall(
			&ctx_, ii_->gi->watch_path, grpc::StubOptions(), this);
		StartWriteLast(&req_, grpc::WriteOptions());
		StartRead(&in_);
		StartCall();
	}

	/* Loop thread; OnDone follows. */
	void cancel() { ctx_.TryCancel(); }

	/* Export sends its headers once the stream is set up: events from
	 * then on reach this side. */
	void OnReadInitialMetadataDone(bool ok) override
	{
		if (!ok)
			return;
		ii_->im->loop()->post([this] {
			open_ = true;
			opened_ = std::chrono::steady_clock::now();
			ii_->im->watch_opened(ii_);
		});
	}

	void OnReadDone(bool ok) override
	{
		if (!ok)
			return;
		std::string data = flatten(in_);
		ImportIface *ii = ii_;
		ii_->im->loop()->post([ii, data] { emit(ii, data); });
		StartRead(&in_);
	}

	void OnDone(const grpc::Status &s) override
	{
		/* After the jobs posted before it, which use this. */
		ii_->im->loop()->post([this, s] {
			ImportIface *ii = ii_;
			auto open_for = open_ ? std::chrono::steady_clock::now() -
						opened_
					      : std::chrono::steady_clock::duration::zero();
			delete this;
			ii->im->watch_ended(ii, s, open_for);
		});
	}

private:
	static void emit(ImportIface *ii, const std::string &data)
	{
		std::unique_ptr<google::protobuf::Message> msg(
			ii->gi->new_event());
		if (!msg->ParseFromString(data))
			return;
		const google::protobuf::Reflection *refl = msg->GetReflection();
		for (size_t i = 0; i < ii->gi->n_methods; i++) {
			const Method *m = &ii->gi->methods[i];
			if (m->kind != LRPC_RPC_EVENT)
				continue;
			const google::protobuf::FieldDescriptor *fd =
				msg->GetDescriptor()->FindFieldByNumber(
					m->event_field);
			if (!fd || !refl->HasField(*msg, fd))
				continue;
			lrpc_arena arena;
			lrpc_arena_init(&arena, nullptr, 0,
					LRPC_ARENA_UNLIMITED);
			std::vector<max_align_t> args(
				(m->req_size + sizeof(max_align_t) - 1) /
				sizeof(max_align_t) + 1, max_align_t());
			Conv cv(&arena);
			if (m->req_get(cv, refl->GetMessage(*msg, fd),
				       args.data()))
				lrpc_server_broadcast(
					ii->im->server(), ii->gi->iface,
					&ii->gi->iface->methods[m->index],
					args.data());
			lrpc_arena_done(&arena);
		}
	}

	ImportIface *ii_;
	grpc::ClientContext ctx_;
	grpc::ByteBuffer req_, in_;
	bool open_ = false;                  /* loop thread */
	std::chrono::steady_clock::time_point opened_;
};

int
invoke(const Method *m, lrpc_rpc_call *call, void *userdata, const void *req)
{
	ImportIface *ii = static_cast<ImportIface *>(userdata);
	uint64_t left = LRPC_TIMEOUT_INFINITE;

	if (ii->im->stopping()) {
		lrpc_rpc_call_set_error_message(call, "the gateway is stopping");
		return -EBUSY;
	}
	std::unique_ptr<google::protobuf::Message> msg(m->new_req());
	m->req_put(req, msg.get());
	if (m->kind == LRPC_RPC_STREAM) {
		/* It keeps the call (the stream) until it ends. */
		new ImportStream(ii, m, call, msg->SerializeAsString());
		return 0;
	}
	ImportCall *c = new ImportCall();
	c->ii = ii;
	c->m = m;
	fill(&c->req, msg->SerializeAsString());
	if (lrpc_rpc_call_get_time_left(call, &left) == 0 &&
	    left != LRPC_TIMEOUT_INFINITE)
		c->ctx.set_deadline(std::chrono::system_clock::now() +
				    std::chrono::microseconds(left));
	if (m->kind == LRPC_RPC_CALL) {
		c->call = call;
		lrpc_rpc_call_set_abandon_handler(call, ImportCall::on_abandon,
						  c);
	}
	Importer *im = ii->im;
	im->add(c);
	im->stub().UnaryCall(&c->ctx, m->path, grpc::StubOptions(), &c->req,
			     &c->rep, [c, im](grpc::Status s) {
		im->loop()->post([c, im, s] {
			c->complete(s);
			im->remove(c);
			delete c;
		});
	});
	return m->kind == LRPC_RPC_CALL ? LRPC_RPC_LATER : 0;
}

Importer::~Importer()
{
}

void
Importer::watch(ImportIface *ii)
{
	if (stopping_ || ii->watch)
		return;
	ii->watch = new ImportWatch(ii);
}

void
Importer::rewatch(void *data)
{
	ImportIface *ii = static_cast<ImportIface *>(data);

	ii->rewatch_timer = nullptr;
	ii->im->watch(ii);
}

void
Importer::watch_opened(ImportIface *ii)
{
	if (!ii->watch_lost)
		return;
	ii->watch_lost = false;
	log_message(LRPC_LOG_NOTICE, std::string(ii->gi->name) +
	    ": the remote Watch stream is open again");
}

static const char *
code_name(grpc::StatusCode code)
{
	switch (code) {
	case grpc::OK: return "OK";
	case grpc::CANCELLED: return "CANCELLED";
	case grpc::UNKNOWN: return "UNKNOWN";
	case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
	case grpc::NOT_FOUND: return "NOT_FOUND";
	case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
	case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
	case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
	case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
	case grpc::ABORTED: return "ABORTED";
	case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
	case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
	case grpc::INTERNAL: return "INTERNAL";
	case grpc::UNAVAILABLE: return "UNAVAILABLE";
	case grpc::DATA_LOSS: return "DATA_LOSS";
	case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
	default: return "status";
	}
}

void
Importer::watch_ended(ImportIface *ii, const grpc::Status &s,
		      std::chrono::steady_clock::duration open_for)
{
	ii->watch = nullptr;
	if (stopping_) {
		if (idle())
			loop_->quit();
		return;
	}
	/*
	 * Events the remote sends until the next stream is open are lost
	 * (lrpc has no way to replay them): say so, count it, and open the
	 * next one at once.  Only ends that come soon after the open, in a
	 * row (the remote refuses the stream), wait, longer each time.
	 */
	watch_gaps_++;
	ii->watch_lost = true;
	if (open_for >= std::chrono::seconds(1))
		ii->watch_failures = 1;
	else
		ii->watch_failures++;
	uint64_t delay = 0;
	if (ii->watch_failures > 1)
		delay = std::min<uint64_t>(
			UINT64_C(100000) << std::min(ii->watch_failures - 2, 7u),
			10 * LRPC_USEC_PER_SEC);
	std::string msg = std::string(ii->gi->name) +
			  ": the remote Watch stream ended (" +
			  code_name(s.error_code());
	if (!s.error_message().empty())
		msg += ": " + s.error_message();
	msg += "); events are lost until it is open again (" +
	       std::to_string(watch_gaps_) + " so far)";
	if (delay)
		msg += ", opening it again in " +
		       std::to_string(delay / LRPC_USEC_PER_MSEC) + " ms";
	log_message(LRPC_LOG_WARNING, msg);
	if (delay == 0 ||
	    lrpc_loop_add_timer(loop_->get(), delay, rewatch, ii,
				&ii->rewatch_timer) < 0)
		watch(ii);
}

void
Importer::remove(ImportOp *op)
{
	ops_.erase(op);
	if (stopping_ && idle())
		loop_->quit();
}

bool
Importer::idle() const
{
	if (!ops_.empty())
		return false;
	for (const auto &ii : ifaces_)
		if (ii->watch)
			return false;
	return true;
}

namespace {

struct WaitTimer {
	Loop *loop;
	bool fired;
};

} // namespace

void
Importer::on_deadline(void *data)
{
	WaitTimer *t = static_cast<WaitTimer *>(data);

	t->fired = true;
	t->loop->quit();
}

void
Importer::wait(uint64_t usec)
{
	WaitTimer t = { loop_, false };
	void *timer = nullptr;

	loop_->init_quit();
	if (lrpc_loop_add_timer(loop_->get(), usec, on_deadline, &t,
				&timer) < 0)
		return;
	loop_->run();
	if (!t.fired)
		lrpc_loop_del_timer(loop_->get(), timer);
}

size_t
Importer::shutdown(uint64_t usec)
{
	size_t cancelled = 0;

	stopping_ = true;
	for (auto &ii : ifaces_) {
		if (ii->rewatch_timer) {
			lrpc_loop_del_timer(loop_->get(), ii->rewatch_timer);
			ii->rewatch_timer = nullptr;
		}
		if (ii->watch)
			ii->watch->cancel();
	}
	if (!idle())
		wait(usec);
	if (!ops_.empty()) {
		cancelled = ops_.size();
		log_message(LRPC_LOG_WARNING, std::to_string(cancelled) +
		    " calls still under way: cancelled");
		std::vector<ImportOp *> left(ops_.begin(), ops_.end());
		for (ImportOp *op : left)
			op->cancel();
	}
	if (!idle())
		wait(LRPC_USEC_PER_SEC);
	if (!idle())
		log_message(LRPC_LOG_WARNING, "calls that did not end are left");
	return cancelled;
}

int
Importer::serve(lrpc_server *s)
{
	server_ = s;
	for (const Module &mod : modules()) {
		for (size_t i = 0; i < mod.n_ifaces; i++) {
			const Interface *gi = mod.ifaces[i];
			auto ii = std::make_unique<ImportIface>();
			ii->im = this;
			ii->gi = gi;
			ii->module = mod.name;
			for (size_t k = 0; k < gi->n_methods; k++)
				ii->invoke.push_back(gi->methods[k].invoke);
			ii->table.struct_size = sizeof(ii->table);
			ii->table.version = gi->iface->version;
			ii->table.iface = gi->iface;
			ii->table.invoke = ii->invoke.data();
			/* The handlers pointer only has to be set: the
			 * trampolines forward to the table. */
			int r = lrpc_server_add_interface(s, &ii->table, gi,
							  ii.get());
			if (r < 0)
				return r;
			if (gi->watch_path)
				watch(ii.get());
			ifaces_.push_back(std::move(ii));
		}
	}
	return 0;
}

} // namespace lrpc_grpc
