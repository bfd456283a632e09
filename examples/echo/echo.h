/* The echo example's messages: ids shared by its server and client. */
#ifndef ECHO_H
#define ECHO_H

#include <lrpc/lrpc.h>

#define ECHO_SERVICE "lrpc-echo"

enum echo_msg_id {
	ECHO_MSG_ECHO = 1,      /* response: the same payload */
	ECHO_MSG_SUBSCRIBE = 2, /* response: empty; then n events */
	ECHO_MSG_QUIT = 3,      /* the server exits */
};

struct echo_subscribe {
	lrpc_msg_header hdr;
	uint32_t n_events;
	uint32_t pad;
};

struct echo_event {
	lrpc_msg_header hdr;
	uint32_t seq;
	uint32_t pad;
};

#endif
