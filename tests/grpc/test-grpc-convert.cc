/*
 * test-grpc-convert.cc - the checked conversions lrpc-gen --backend
 * grpc-gateway writes (docs/remote.md, "Type mapping"), on convert.idl:
 * a message with every shape converts to the C struct and back to an
 * equal message, and each value proto can carry but the IDL type cannot
 * is refused with a message naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <memory>
#include <string>

#include <google/protobuf/util/message_differencer.h>
#include <lrpc/grpc-gateway.hh>

#include "convert-types.h"
#include "convert.pb.h"

/* Last: cmocka defines fail(), a name Conv has too.  Its header has no
 * extern "C" of its own. */
extern "C" {
#include <cmocka.h>
}

namespace {

const lrpc_grpc::Method *
echo_method()
{
	for (const auto &mod : lrpc_grpc::modules())
		if (strcmp(mod.name, "conv") == 0)
			return &mod.ifaces[0]->methods[0];
	return nullptr;
}

conv::EchoRequest
valid()
{
	conv::EchoRequest req;
	conv::All *a = req.mutable_all();

	a->set_level(conv::LEVEL_HIGH);
	a->set_small(-128);
	a->set_medium(65535);
	for (uint32_t v : { 1u, 2u, 3u, 255u })
		a->add_quad(v);
	a->set_name("\xc3\xa9t\xc3\xa9");            /* "été", 5 bytes */
	a->set_blob(std::string("\0\1\2\3", 4));
	a->add_few(7);
	a->add_nested()->add_items(1);
	a->add_nested();
	(*a->mutable_names())[1] = "low";
	(*a->mutable_names())[2] = "high";
	a->mutable_maybe()->set_small(5);
	a->set_count(0);
	a->mutable_choice()->mutable_inner()->set_medium(9);
	a->add_inners()->set_small(-1);
	a->set_ratio(0.25);
	a->set_flag(true);
	a->set_wide(INT64_MIN);
	return req;
}

/* Converts @req to C; on success back to proto into @back. */
bool
convert(const conv::EchoRequest &req, std::string *error,
	conv::EchoRequest *back = nullptr)
{
	const lrpc_grpc::Method *m = echo_method();
	lrpc_arena arena;
	struct conv_echo__req c;

	assert_non_null(m);
	memset(&c, 0, sizeof(c));
	lrpc_arena_init(&arena, nullptr, 0, LRPC_ARENA_UNLIMITED);
	lrpc_grpc::Conv cv(&arena);
	bool ok = m->req_get(cv, req, &c);
	*error = cv.error();
	if (ok && back) {
		/* The C struct is what lrpc's encoder accepts too. */
		size_t size = 0;
		assert_int_equal(lrpc_rpc_encode(
			conv__interface.methods[m->index].request, &c,
			nullptr, 0, &size), 0);
		assert_true(size > 0);
		assert_int_equal(c.all.level, CONV_LEVEL_HIGH);
		assert_int_equal(c.all.small, -128);
		assert_int_equal(c.all.medium, 65535);
		assert_int_equal(c.all.quad[3], 255);
		assert_string_equal(c.all.name, "\xc3\xa9t\xc3\xa9");
		assert_int_equal(c.all.blob.len, 4);
		assert_int_equal(c.all.nested.count, 2);
		assert_int_equal(c.all.nested.items[0].count, 1);
		assert_int_equal(c.all.names.count, 2);
		assert_int_equal(c.all.names.keys[0], CONV_LEVEL_LOW);
		assert_non_null(c.all.maybe);
		assert_non_null(c.all.count);
		assert_int_equal(*c.all.count, 0);
		assert_null(c.all.note);
		assert_int_equal(c.all.choice.tag, CONV_CHOICE_INNER);
		m->req_put(&c, back);
	}
	lrpc_arena_done(&arena);
	return ok;
}

void
test_round_trip(void **state)
{
	conv::EchoRequest req = valid(), back;
	std::string error;

	(void)state;
	assert_true(convert(req, &error, &back));
	assert_true(google::protobuf::util::MessageDifferencer::Equals(req,
								       back));
}

struct Bad {
	const char *what;      /* in the error message */
	void (*spoil)(conv::All *a);
};

const Bad bad[] = {
	{ "conv.All.level: not a value of conv.Level",
	  [](conv::All *a) { a->set_level(conv::LEVEL_UNSPECIFIED); } },
	{ "conv.All.level: not a value of conv.Level",
	  [](conv::All *a) { a->set_level(static_cast<conv::Level>(7)); } },
	{ "conv.All.small: out of the range of i8",
	  [](conv::All *a) { a->set_small(128); } },
	{ "conv.All.small: out of the range of i8",
	  [](conv::All *a) { a->set_small(-129); } },
	{ "conv.All.medium: out of the range of u16",
	  [](conv::All *a) { a->set_medium(65536); } },
	{ "conv.All.quad: out of the range of u8",
	  [](conv::All *a) { a->set_quad(0, 256); } },
	{ "conv.All.quad: 4 elements expected",
	  [](conv::All *a) { a->mutable_quad()->RemoveLast(); } },
	{ "conv.All.quad: 4 elements expected",
	  [](conv::All *a) { a->add_quad(1); } },
	{ "conv.All.name: longer than 8 bytes",
	  [](conv::All *a) { a->set_name("123456789"); } },
	{ "conv.All.name: a NUL in a string",
	  [](conv::All *a) { a->set_name(std::string("a\0b", 3)); } },
	{ "conv.All.name: invalid UTF-8",
	  [](conv::All *a) { a->set_name("\xc3("); } },
	{ "conv.All.blob: longer than 4 bytes",
	  [](conv::All *a) { a->set_blob("12345"); } },
	{ "conv.All.few: more than 3 elements",
	  [](conv::All *a) { for (int i = 0; i < 3; i++) a->add_few(1); } },
	{ "conv.All.names key: not a value of conv.Level",
	  [](conv::All *a) { (*a->mutable_names())[0] = "zero"; } },
	{ "conv.Choice: no case set",
	  [](conv::All *a) { a->mutable_choice()->Clear(); } },
	{ "conv.Inner.small: out of the range of i8",
	  [](conv::All *a) { a->mutable_maybe()->set_small(1000); } },
	{ "conv.Inner.medium: out of the range of u16",
	  [](conv::All *a) { a->mutable_inners(0)->set_medium(-1 & 0xfffff); } },
	{ "conv.Choice.text: invalid UTF-8",
	  [](conv::All *a) { a->mutable_choice()->set_text("\xff"); } },
	{ "conv.All.note: a NUL in a string",
	  [](conv::All *a) { a->set_note(std::string("\0", 1)); } },
};

void
test_refused(void **state)
{
	(void)state;
	for (const Bad &b : bad) {
		conv::EchoRequest req = valid();
		std::string error;

		b.spoil(req.mutable_all());
		if (convert(req, &error))
			fail_msg("accepted, expected \"%s\"", b.what);
		if (error != b.what)
			fail_msg("\"%s\", expected \"%s\"", error.c_str(),
				 b.what);
	}
}

} // namespace

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
