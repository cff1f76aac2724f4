/* part.h: one frame of a ZeroMQ multipart message, as the codecs and sockets pass them.
 *
 * The bytes are borrowed: valid only as long as the message they came from (for a
 * received message, until the receive callback returns). Thread: any. */
#ifndef TT_ZMQ_PART_H
#define TT_ZMQ_PART_H

#include <stddef.h>

struct tt_zmq_part {
    const void *data;
    size_t len;
};

#endif
