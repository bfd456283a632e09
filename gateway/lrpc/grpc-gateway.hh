/*
 * lrpc/grpc-gateway.hh - what the code lrpc-gen --backend grpc-gateway
 * writes for a module is linked with: the tables it fills in, the checked
 * conversion helpers it calls, and the registration that lets the gateway
 * program (gateway/main.cc) find the module.  C++, and only for the
 * gateway: liblrpc stays C.  docs/remote.md describes the program.
 */
#ifndef LRPC_GRPC_GATEWAY_HH
#define LRPC_GRPC_GATEWAY_HH

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <lrpc/rpc.h>

namespace lrpc_grpc {

/*
 * One conversion from a gRPC message to C structs: the arena the C side's
 * arrays live in and the first broken rule.  Strings and bytes point into
 * the message, which must outlive the C value.
 */
class Conv {
public:
	explicit Conv(lrpc_arena *arena) : arena_(arena) {}

	/* Record @msg (the first one wins) and return false. */
	bool fail(const std::string &msg)
	{
		if (error_.empty())
			error_ = msg;
		return false;
	}
	const std::string &error() const { return error_; }

	/* @n zeroed elements of T in the arena (NULL for none). */
	template <typename T> bool alloc(T **ret, size_t n)
	{
		void *p = nullptr;

		*ret = nullptr;
		if (n == 0)
			return true;
		if (n > SIZE_MAX / sizeof(T))
			return fail("too many elements");
		size_t align = alignof(T) > 16 ? 16 : alignof(T);
		if (lrpc_arena_alloc(arena_, n * sizeof(T), align, &p) < 0)
			return fail("out of memory");
		*ret = static_cast<T *>(p);
		return true;
	}

	/* A string without NUL, valid UTF-8, at most @max bytes (0: any). */
	bool str(const std::string &s, uint32_t max, const char **out,
		 const char *what);
	/* Bytes of at most @max (0: any). */
	bool bytes(const std::string &s, uint32_t max, lrpc_bytes *out,
		   const char *what);

private:
	lrpc_arena *arena_;
	std::string error_;
};

inline const char *cstr(const char *s) { return s ? s : ""; }

inline std::string bytes_string(const lrpc_bytes &b)
{
	if (!b.data || !b.len)
		return std::string();
	return std::string(reinterpret_cast<const char *>(b.data), b.len);
}

/* The entries of a protobuf map in key order: one C value per map. */
template <typename M>
std::vector<const typename M::value_type *> sorted_entries(const M &map)
{
	std::vector<const typename M::value_type *> v;
	v.reserve(map.size());
	for (const auto &e : map)
		v.push_back(&e);
	std::sort(v.begin(), v.end(),
		  [](const typename M::value_type *a,
		     const typename M::value_type *b) {
			  return a->first < b->first;
		  });
	return v;
}

template <typename T> google::protobuf::Message *make() { return new T(); }

typedef void (*PutFn)(const void *c, google::protobuf::Message *out);
typedef bool (*GetFn)(Conv &cv, const google::protobuf::Message &in,
		      void *c);
typedef google::protobuf::Message *(*MakeFn)();

/*
 * A method or event of an interface.  For a call or oneway method: @path
 * is the gRPC method, req_* convert the parameters (<Method>Request) and
 * rep_* the results (<Method>Reply; Empty for oneway).  For an event:
 * @event_field is its field number in the interface's stream message and
 * req_* convert its arguments (<Event>Event).
 */
struct Method {
	unsigned index;     /* in lrpc_rpc_interface.methods */
	uint16_t kind;      /* lrpc_rpc_method_kind */
	const char *name;   /* IDL name */
	const char *path;   /* "/kv.Store/Get"; NULL for an event */
	int event_field;
	size_t req_size;    /* sizeof the C request layout */
	size_t rep_size;    /* sizeof the C reply (item) layout, 0: none */
	PutFn req_put;
	GetFn req_get;
	PutFn rep_put;
	GetFn rep_get;
	MakeFn new_req;
	MakeFn new_rep;
	/* Export: hands an event to the watchers (events only). */
	lrpc_rpc_notify_fn notify;
	/* Import: forwards a call (calls, oneway and stream methods). */
	lrpc_rpc_invoke_fn invoke;
};

/*
 * What the generated trampolines call: @userdata is the gateway's own
 * context of the interface (set with the listener or dispatch table).
 */
void notify(const Method *m, void *userdata, const void *args);
int invoke(const Method *m, lrpc_rpc_call *call, void *userdata,
	   const void *req);

struct Interface {
	const lrpc_rpc_interface *iface;
	const char *name;          /* "kv.Store" */
	const char *watch_path;    /* "/kv.Store/Watch", NULL: no events */
	MakeFn new_event;          /* the stream message */
	const Method *methods;     /* by index, like iface->methods */
	size_t n_methods;
};

struct Module {
	const char *name;
	const Interface *const *ifaces;
	size_t n_ifaces;
};

/* Every module linked into the program (one static object each). */
std::vector<Module> &modules();

class Registration {
public:
	Registration(const char *name, const Interface *const *ifaces,
		     size_t n)
	{
		modules().push_back(Module{ name, ifaces, n });
	}
};

} // namespace lrpc_grpc

#endif
