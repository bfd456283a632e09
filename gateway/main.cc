/*
 * main.cc - the gRPC gateway program, linked with the code lrpc-gen
 * --backend grpc-gateway wrote for one or more modules (one program per
 * module in this tree: examples/kv builds kv-grpc-gateway).
 *
 *   <prog> export --service NAME --listen HOST:PORT [TLS] [--policy FILE]
 *   <prog> import --service NAME --connect HOST:PORT [TLS]
 *
 * docs/remote.md describes the options.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "gateway.hh"

using namespace lrpc_grpc;

namespace {

struct Options {
	std::string mode;
	std::string service;
	std::string address;
	std::string cert, key, ca;
	std::string server_name;
	std::string policy;
	std::vector<std::string> allow;
	bool require_client_cert = false;
	bool insecure = false;
	int max_message = 4 << 20;
	lrpc_transport transport = LRPC_TRANSPORT_BEST;
	uint64_t shutdown_wait = 5 * LRPC_USEC_PER_SEC;
};

const char *prog = "lrpc-grpc-gateway";

void
usage(FILE *f)
{
	fprintf(f,
"usage: %s export --service NAME --listen HOST:PORT [options]\n"
"       %s import --service NAME --connect HOST:PORT [options]\n"
"  --cert FILE --key FILE   TLS certificate and key (PEM): export serves,\n"
"                           import presents them as client certificate\n"
"  --ca FILE                CAs (PEM): import checks the server with them,\n"
"                           export checks client certificates\n"
"  --require-client-cert    export: refuse clients without a certificate\n"
"                           signed by --ca\n"
"  --policy FILE            export: who may call what (docs/remote.md)\n"
"  --allow IDENTITY=METHOD  export: one policy rule (repeatable)\n"
"  --server-name NAME       import: the name the server certificate has\n"
"  --insecure               allow plaintext on a non-loopback address\n"
"  --max-message BYTES      largest gRPC message (default 4 MiB)\n"
"  --transport socket|shm|best   the local lrpc transport\n"
"  --shutdown-wait SECONDS  import: how long calls under way may still\n"
"                           finish after SIGTERM (default 5)\n",
		prog, prog);
}

bool
read_file(const std::string &path, std::string *out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return false;
	std::ostringstream ss;
	ss << in.rdbuf();
	*out = ss.str();
	return true;
}

/* 127.0.0.0/8, ::1, localhost and unix: sockets do not leave the host. */
bool
is_loopback(const std::string &address)
{
	std::string host = address;

	if (host.compare(0, 5, "unix:") == 0)
		return true;
	if (host.compare(0, 5, "ipv4:") == 0)
		host = host.substr(5);
	else if (host.compare(0, 5, "ipv6:") == 0)
		host = host.substr(5);
	if (!host.empty() && host[0] == '[') {
		size_t end = host.find(']');
		return end != std::string::npos && host.substr(1, end - 1) ==
						     "::1";
	}
	size_t colon = host.rfind(':');
	if (colon != std::string::npos)
		host = host.substr(0, colon);
	return host == "localhost" || host.compare(0, 4, "127.") == 0;
}

int
parse(int argc, char **argv, Options *o)
{
	enum { CERT = 256, KEY, CA, REQUIRE, POLICY, ALLOW, NAME, INSECURE,
	       MAXMSG, TRANSPORT, SERVICE, LISTEN, CONNECT, SHUTDOWN, HELP };
	static const struct option longopts[] = {
		{ "service", required_argument, nullptr, SERVICE },
		{ "listen", required_argument, nullptr, LISTEN },
		{ "connect", required_argument, nullptr, CONNECT },
		{ "cert", required_argument, nullptr, CERT },
		{ "key", required_argument, nullptr, KEY },
		{ "ca", required_argument, nullptr, CA },
		{ "require-client-cert", no_argument, nullptr, REQUIRE },
		{ "policy", required_argument, nullptr, POLICY },
		{ "allow", required_argument, nullptr, ALLOW },
		{ "server-name", required_argument, nullptr, NAME },
		{ "insecure", no_argument, nullptr, INSECURE },
		{ "max-message", required_argument, nullptr, MAXMSG },
		{ "transport", required_argument, nullptr, TRANSPORT },
		{ "shutdown-wait", required_argument, nullptr, SHUTDOWN },
		{ "help", no_argument, nullptr, HELP },
		{ nullptr, 0, nullptr, 0 },
	};
	int c;

	if (argc < 2)
		return -1;
	o->mode = argv[1];
	if (o->mode == "--help" || o->mode == "-h") {
		usage(stdout);
		exit(0);
	}
	if (o->mode != "export" && o->mode != "import")
		return -1;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
		switch (c) {
		case SERVICE: o->service = optarg; break;
		case LISTEN:
			if (o->mode != "export")
				return -1;
			o->address = optarg;
			break;
		case CONNECT:
			if (o->mode != "import")
				return -1;
			o->address = optarg;
			break;
		case CERT: o->cert = optarg; break;
		case KEY: o->key = optarg; break;
		case CA: o->ca = optarg; break;
		case REQUIRE: o->require_client_cert = true; break;
		case POLICY: o->policy = optarg; break;
		case ALLOW:
			if (!strchr(optarg, '='))
				return -1;
			o->allow.push_back(optarg);
			break;
		case NAME: o->server_name = optarg; break;
		case INSECURE: o->insecure = true; break;
		case MAXMSG: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 64 || v > INT32_MAX)
				return -1;
			o->max_message = static_cast<int>(v);
			break;
		}
		case TRANSPORT:
			if (strcmp(optarg, "socket") == 0)
				o->transport = LRPC_TRANSPORT_SOCKET;
			else if (strcmp(optarg, "shm") == 0)
				o->transport = LRPC_TRANSPORT_SHM;
			else if (strcmp(optarg, "best") != 0)
				return -1;
			break;
		case SHUTDOWN: {
			char *end;
			double v = strtod(optarg, &end);
			if (*end || end == optarg || !(v >= 0 && v <= 3600))
				return -1;
			o->shutdown_wait = static_cast<uint64_t>(
				v * LRPC_USEC_PER_SEC);
			break;
		}
		case HELP:
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc || o->service.empty() || o->address.empty())
		return -1;
	if (o->cert.empty() != o->key.empty())
		return -1;
	return 0;
}

/* The library's log hook, and the program's own messages. */
void
print_log(lrpc_log_level level, const char *msg, void *userdata)
{
	(void)level;
	(void)userdata;
	fprintf(stderr, "%s: %s\n", prog, msg);
}

void
on_signal(lrpc_loop *loop, int signo, void *userdata)
{
	(void)loop;
	(void)signo;
	static_cast<Loop *>(userdata)->quit();
}

bool
tls_files(const Options &o, std::string *ca, std::string *cert,
	  std::string *key)
{
	if (!o.ca.empty() && !read_file(o.ca, ca)) {
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, o.ca.c_str(),
			strerror(errno));
		return false;
	}
	if (!o.cert.empty() && (!read_file(o.cert, cert) ||
				!read_file(o.key, key))) {
		fprintf(stderr, "%s: cannot read %s or %s: %s\n", prog,
			o.cert.c_str(), o.key.c_str(), strerror(errno));
		return false;
	}
	return true;
}

int
run_export(const Options &o, Loop &loop)
{
	Policy policy;
	std::string err;
	std::shared_ptr<grpc::ServerCredentials> creds;
	std::string ca, cert, key;

	if (!o.policy.empty() && policy.load(o.policy, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.c_str());
		return 2;
	}
	for (const auto &rule : o.allow) {
		size_t eq = rule.find('=');
		policy.add(rule.substr(0, eq), rule.substr(eq + 1));
	}
	if (!tls_files(o, &ca, &cert, &key))
		return 1;
	if (!cert.empty()) {
		grpc::SslServerCredentialsOptions sopts(
			o.require_client_cert ?
			GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY :
			ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE :
			GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
		sopts.pem_root_certs = ca;
		sopts.pem_key_cert_pairs.push_back({ key, cert });
		creds = grpc::SslServerCredentials(sopts);
	} else {
		if (!o.insecure && !is_loopback(o.address)) {
			fprintf(stderr, "%s: plaintext only on a loopback "
				"address: give --cert and --key, or "
				"--insecure\n", prog);
			return 2;
		}
		if (o.require_client_cert) {
			fprintf(stderr, "%s: --require-client-cert needs TLS\n",
				prog);
			return 2;
		}
		creds = grpc::InsecureServerCredentials();
	}
	if (o.require_client_cert && ca.empty()) {
		fprintf(stderr, "%s: --require-client-cert needs --ca\n", prog);
		return 2;
	}

	lrpc_client_opts copts = {};
	copts.struct_size = sizeof(copts);
	copts.transport = o.transport;
	Exporter ex(&loop, &policy);
	int r = ex.start(o.service.c_str(), &copts);
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach %s: %s\n", prog,
			o.service.c_str(), strerror(-r));
		return 1;
	}

	grpc::ServerBuilder builder;
	int port = 0;
	builder.AddListeningPort(o.address, creds, &port);
	builder.SetMaxReceiveMessageSize(o.max_message);
	builder.SetMaxSendMessageSize(o.max_message);
	builder.RegisterCallbackGenericService(&ex);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server || port == 0) {
		fprintf(stderr, "%s: cannot listen on %s\n", prog,
			o.address.c_str());
		return 1;
	}
	printf("%s: exporting %s on port %d\n", prog, o.service.c_str(), port);
	fflush(stdout);

	r = loop.run();
	/* Shut gRPC down while the loop still completes the calls. */
	std::thread stopper([&server, &loop] {
		server->Shutdown(std::chrono::system_clock::now() +
				 std::chrono::seconds(1));
		loop.post([&loop] { loop.quit(); });
	});
	loop.init_quit();
	loop.run();
	stopper.join();
	return r < 0;
}

int
run_import(const Options &o, Loop &loop)
{
	std::shared_ptr<grpc::ChannelCredentials> creds;
	std::string ca, cert, key;
	grpc::ChannelArguments args;

	if (!tls_files(o, &ca, &cert, &key))
		return 1;
	if (!ca.empty() || !cert.empty()) {
		grpc::SslCredentialsOptions copts;
		copts.pem_root_certs = ca;
		copts.pem_private_key = key;
		copts.pem_cert_chain = cert;
		creds = grpc::SslCredentials(copts);
		if (!o.server_name.empty())
			args.SetSslTargetNameOverride(o.server_name);
	} else {
		if (!o.insecure && !is_loopback(o.address)) {
			fprintf(stderr, "%s: plaintext only to a loopback "
				"address: give --ca, or --insecure\n", prog);
			return 2;
		}
		creds = grpc::InsecureChannelCredentials();
	}
	args.SetMaxReceiveMessageSize(o.max_message);
	args.SetMaxSendMessageSize(o.max_message);
	auto channel = grpc::CreateCustomChannel(o.address, creds, args);

	lrpc_server_opts sopts = {};
	sopts.struct_size = sizeof(sopts);
	sopts.transport = o.transport;
	lrpc_server *s = nullptr;
	Importer im(&loop, channel);
	int r = lrpc_server_new(&s, o.service.c_str(), nullptr, &sopts,
				nullptr);
	if (r >= 0)
		r = lrpc_server_attach_loop(s, loop.get());
	if (r >= 0)
		r = im.serve(s);
	if (r >= 0)
		r = lrpc_server_start(s);
	if (r < 0) {
		fprintf(stderr, "%s: cannot serve %s: %s\n", prog,
			o.service.c_str(), strerror(-r));
		lrpc_server_unref(s);
		return 1;
	}
	printf("%s: importing %s from %s\n", prog, o.service.c_str(),
	       o.address.c_str());
	fflush(stdout);
	r = loop.run();
	/* The calls under way get their answers, within a bound. */
	im.shutdown(o.shutdown_wait);
	lrpc_server_unref(s);
	return r < 0;
}

} // namespace

int
main(int argc, char **argv)
{
	Options o;
	Loop loop;

	if (argc > 0 && argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argc > 0 && argv[0])
		prog = argv[0];
	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	/*
	 * Every call allocates and frees buffers as large as its messages.
	 * With glibc's defaults the freed top of the heap goes back to the
	 * kernel at once and the next call faults it in again (and large
	 * buffers are mmap()ed and unmapped per call): that was most of
	 * what a 64 KiB call through the gateway cost beyond plain gRPC
	 * (docs/remote.md, "Performance").  Keep up to a few messages' worth.
	 */
	size_t keep = std::min<size_t>(static_cast<size_t>(o.max_message) * 4,
				       32u << 20);
	mallopt(M_MMAP_THRESHOLD, static_cast<int>(keep));
	mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * keep));
	lrpc_set_log_hook(print_log, LRPC_LOG_WARNING, nullptr);
	set_log(print_log, LRPC_LOG_NOTICE, nullptr);
	int r = loop.init();
	if (r >= 0)
		r = lrpc_loop_add_signal(loop.get(), SIGTERM, on_signal,
					 &loop);
	if (r >= 0)
		r = lrpc_loop_add_signal(loop.get(), SIGINT, on_signal,
					 &loop);
	if (r < 0) {
		fprintf(stderr, "%s: no loop: %s\n", prog, strerror(-r));
		return 1;
	}
	if (o.mode == "export")
		return run_export(o, loop);
	return run_import(o, loop);
}
