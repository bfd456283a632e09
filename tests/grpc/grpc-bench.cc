/*
 * grpc-bench.cc - what the gRPC gateway costs (docs/remote.md,
 * "Performance"): kv.Store/Get with a 16 B and a 64 KiB value through
 * kv-grpc-gateway export in front of the kv example server, beside a
 * plain gRPC C++ server in this process answering the same messages from
 * memory, in turns in the same run.  One client thread, synchronous
 * calls, plaintext on loopback for both.
 *
 *   grpc-bench --gateway HOST:PORT [--calls N] [--rounds N]
 *
 * scripts/grpc-bench.sh starts the kv server and the gateway and runs it
 * (make bench).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "kv.pb.h"

namespace {

std::string
flatten(const grpc::ByteBuffer &bb)
{
	std::vector<grpc::Slice> slices;
	std::string out;

	(void)bb.Dump(&slices);
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

/* The plain server: GetReply messages made once, sent from memory. */
class Plain final : public grpc::CallbackGenericService {
public:
	std::map<std::string, std::string> replies;

	grpc::ServerGenericBidiReactor *CreateReactor(
		grpc::GenericCallbackServerContext *) override
	{
		return new Call(this);
	}

private:
	class Call final : public grpc::ServerGenericBidiReactor {
	public:
		explicit Call(Plain *p) : p_(p) { StartRead(&in_); }
		void OnReadDone(bool ok) override
		{
			kv::GetRequest req;
			if (!ok || !req.ParseFromString(flatten(in_))) {
				Finish(grpc::Status(grpc::INVALID_ARGUMENT, ""));
				return;
			}
			auto it = p_->replies.find(req.key());
			if (it == p_->replies.end()) {
				Finish(grpc::Status(grpc::NOT_FOUND, ""));
				return;
			}
			fill(&out_, it->second);
			StartWriteAndFinish(&out_, grpc::WriteOptions(),
					    grpc::Status::OK);
		}
		void OnDone() override { delete this; }

	private:
		Plain *p_;
		grpc::ByteBuffer in_, out_;
	};
};

class Client {
public:
	explicit Client(const std::string &target)
		: stub_(grpc::CreateChannel(target,
					    grpc::InsecureChannelCredentials()))
	{
	}

	grpc::Status call(const char *method, const std::string &req,
			  std::string *rep)
	{
		grpc::ClientContext ctx;
		grpc::ByteBuffer in, out;
		grpc::Status status;
		bool done = false;

		fill(&in, req);
		ctx.set_deadline(std::chrono::system_clock::now() +
				 std::chrono::seconds(10));
		stub_.UnaryCall(&ctx, method, grpc::StubOptions(), &in, &out,
				[&](grpc::Status s) {
			std::lock_guard<std::mutex> lock(mu_);
			status = s;
			done = true;
			cv_.notify_one();
		});
		std::unique_lock<std::mutex> lock(mu_);
		cv_.wait(lock, [&] { return done; });
		if (rep)
			*rep = flatten(out);
		return status;
	}

private:
	grpc::GenericStub stub_;
	std::mutex mu_;
	std::condition_variable cv_;
};

struct Stats {
	std::vector<double> usec;
	void add(double v) { usec.push_back(v); }
	double pct(double p)
	{
		std::sort(usec.begin(), usec.end());
		size_t i = static_cast<size_t>(p * (usec.size() - 1));
		return usec[i];
	}
};

bool
measure(Client &c, const std::string &req, size_t size, int calls,
	Stats *st)
{
	std::string rep;

	for (int i = 0; i < calls; i++) {
		auto t0 = std::chrono::steady_clock::now();
		grpc::Status s = c.call("/kv.Store/Get", req, &rep);
		auto t1 = std::chrono::steady_clock::now();
		if (!s.ok()) {
			fprintf(stderr, "grpc-bench: Get failed: %d %s\n",
				s.error_code(), s.error_message().c_str());
			return false;
		}
		kv::GetReply r;
		if (!r.ParseFromString(rep) || r.entry().value().size() != size) {
			fprintf(stderr, "grpc-bench: a wrong reply\n");
			return false;
		}
		st->add(std::chrono::duration<double, std::micro>(t1 - t0)
				.count());
	}
	return true;
}

} // namespace

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "gateway", required_argument, nullptr, 'g' },
		{ "calls", required_argument, nullptr, 'n' },
		{ "rounds", required_argument, nullptr, 'r' },
		{ nullptr, 0, nullptr, 0 },
	};
	std::string gateway;
	int calls = 2000, rounds = 5, c;

	while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
		switch (c) {
		case 'g': gateway = optarg; break;
		case 'n': calls = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: grpc-bench --gateway HOST:PORT "
				"[--calls N] [--rounds N]\n");
			return 2;
		}
	}
	if (gateway.empty() || calls < 1 || rounds < 1) {
		fprintf(stderr, "usage: grpc-bench --gateway HOST:PORT "
			"[--calls N] [--rounds N]\n");
		return 2;
	}

	const size_t sizes[] = { 16, 65536 };
	Plain plain;
	Client gw(gateway);
	for (size_t size : sizes) {
		std::string key = "bench/" + std::to_string(size);
		std::string value(size, 'v');
		kv::PutRequest put;
		put.set_key(key);
		put.mutable_value()->set_data(value);
		grpc::Status s = gw.call("/kv.Store/Put",
					 put.SerializeAsString(), nullptr);
		if (!s.ok()) {
			fprintf(stderr, "grpc-bench: Put through %s: %s\n",
				gateway.c_str(), s.error_message().c_str());
			return 1;
		}
		kv::GetReply rep;
		rep.mutable_entry()->set_key(key);
		rep.mutable_entry()->set_value(value);
		rep.mutable_entry()->set_version(1);
		plain.replies[key] = rep.SerializeAsString();
	}

	grpc::ServerBuilder builder;
	int port = 0;
	builder.AddListeningPort("127.0.0.1:0",
				 grpc::InsecureServerCredentials(), &port);
	builder.RegisterCallbackGenericService(&plain);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server || !port) {
		fprintf(stderr, "grpc-bench: cannot start the plain server\n");
		return 1;
	}
	Client direct("127.0.0.1:" + std::to_string(port));

	printf("%-8s %-10s %10s %10s %10s\n", "size", "path", "median",
	       "p99", "calls");
	bool ok = true;
	for (size_t size : sizes) {
		kv::GetRequest get;
		get.set_key("bench/" + std::to_string(size));
		std::string req = get.SerializeAsString();
		Stats p, g;
		int n = size > 1024 ? std::max(calls / 2, 1) : calls;
		/* Warm both up, then take turns so that both see the same
		 * load. */
		ok = ok && measure(direct, req, size, n / 10 + 1, &p) &&
		     measure(gw, req, size, n / 10 + 1, &g);
		p.usec.clear();
		g.usec.clear();
		for (int r = 0; ok && r < rounds; r++)
			ok = measure(direct, req, size, n / rounds + 1, &p) &&
			     measure(gw, req, size, n / rounds + 1, &g);
		if (!ok)
			break;
		double pm = p.pct(0.5), gm = g.pct(0.5);
		printf("%-8zu %-10s %8.1f µs %8.1f µs %10zu\n", size, "grpc",
		       pm, p.pct(0.99), p.usec.size());
		printf("%-8zu %-10s %8.1f µs %8.1f µs %10zu   +%.1f µs "
		       "(+%.0f %%)\n", size, "gateway", gm, g.pct(0.99),
		       g.usec.size(), gm - pm, (gm - pm) / pm * 100);
	}
	server->Shutdown(std::chrono::system_clock::now() +
			 std::chrono::seconds(1));
	return ok ? 0 : 1;
}
