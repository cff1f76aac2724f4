/* frame.h: sans-I/O RFC 6455 framing, both roles: a frame parser with the protocol checks,
 * a message assembler for fragmented messages, frame and close-payload writers.
 *
 * Parsing model: the caller reads into its own writable buffer and calls
 * tt_ws_parser_next() on the unread bytes. It returns one complete frame at a time (the
 * payload unmasked in place) or TT_EAGAIN, so between reads the caller keeps only the bytes
 * of one partial frame. Header errors are reported as soon as the header bytes are there,
 * without waiting for the payload; invalid UTF-8 in an uncompressed text message is
 * reported as soon as the bad byte arrives, even inside a partial frame.
 *
 * Errors carry the close code to send (1002 protocol error, 1007 bad payload data, 1009
 * too big) and a short static reason for the log. After an error the parser must not be
 * used again: the caller sends the close frame and closes.
 *
 * Memory: struct tt_ws_parser is 48 bytes and owns nothing; an idle connection needs
 * nothing else. The assembler owns a buffer only while a fragmented message is in
 * progress. Thread: owner's; no globals. */
#ifndef TT_WS_FRAME_H
#define TT_WS_FRAME_H

#include "core/buf.h"
#include "core/common.h"
#include "ws/utf8.h"

enum {
    TT_WS_OP_CONT = 0x0,
    TT_WS_OP_TEXT = 0x1,
    TT_WS_OP_BINARY = 0x2,
    TT_WS_OP_CLOSE = 0x8,
    TT_WS_OP_PING = 0x9,
    TT_WS_OP_PONG = 0xA,
};

/* Close codes this codec produces or tests for (RFC 6455 7.4.1, IANA registry). */
enum {
    TT_WS_CLOSE_NORMAL = 1000,
    TT_WS_CLOSE_GOING_AWAY = 1001,
    TT_WS_CLOSE_PROTOCOL = 1002,
    TT_WS_CLOSE_UNSUPPORTED = 1003,
    TT_WS_CLOSE_NO_STATUS = 1005, /* never on the wire: "the close frame had no code" */
    TT_WS_CLOSE_ABNORMAL = 1006,  /* never on the wire */
    TT_WS_CLOSE_BAD_DATA = 1007,
    TT_WS_CLOSE_POLICY = 1008,
    TT_WS_CLOSE_TOO_BIG = 1009,
    TT_WS_CLOSE_INTERNAL = 1011,
};

#define TT_WS_MAX_HEADER 14     /* 2 + 8 (64-bit length) + 4 (mask) */
#define TT_WS_MAX_CONTROL 125   /* control frame payload cap (RFC 6455 5.5) */
#define TT_WS_MAX_CLOSE_REASON 123

/* Defaults the I/O layer may use for the caps below. A frame larger than the message cap
 * is refused anyway, so the frame cap only matters when it is lower. */
#define TT_WS_DEFAULT_MAX_FRAME (1024 * 1024)
#define TT_WS_DEFAULT_MAX_MESSAGE (1024 * 1024)

enum tt_ws_role {
    TT_WS_ROLE_SERVER, /* we accepted the connection: peer frames must be masked */
    TT_WS_ROLE_CLIENT, /* we opened it (to a ws backend): peer frames must not be masked */
};

struct tt_ws_error {
    uint16_t close_code; /* 1002, 1007 or 1009 */
    const char *reason;  /* static, short, for logs (may go in the close frame) */
};

struct tt_ws_parser {
    uint64_t max_frame;   /* payload bytes per frame */
    uint64_t max_message; /* payload bytes of a data message, summed over its frames */
    uint64_t msg_len;     /* bytes of the open data message so far */
    uint64_t part_done;   /* payload bytes of the pending partial frame already unmasked */
    struct tt_ws_utf8 utf8;
    uint8_t role;
    uint8_t msg_opcode; /* TEXT or BINARY while a message is open */
    bool deflate;       /* permessage-deflate negotiated: RSV1 allowed on a first frame */
    bool in_message;    /* a data message has started and its FIN frame not arrived */
    bool msg_compressed;
    bool failed;
};

struct tt_ws_frame {
    uint8_t opcode;     /* as on the wire */
    uint8_t msg_opcode; /* TEXT/BINARY for data frames (also continuations); else opcode */
    bool fin;
    bool rsv1;       /* this frame's RSV1 */
    bool compressed; /* data frame of a message whose first frame had RSV1 */
    bool first;      /* first frame of a data message (opcode TEXT or BINARY) */
    uint8_t *payload; /* inside the caller's buffer, unmasked */
    size_t payload_len;
    /* Close frames only: code (TT_WS_CLOSE_NO_STATUS when the payload is empty) and the
     * UTF-8 reason inside payload. Both were validated. */
    uint16_t close_code;
    const uint8_t *close_reason;
    size_t close_reason_len;
};

/* Set up a parser. max_frame and max_message must be > 0. */
void tt_ws_parser_init(struct tt_ws_parser *p, enum tt_ws_role role, uint64_t max_frame,
                       uint64_t max_message);

/* Allow RSV1 (permessage-deflate was negotiated). */
void tt_ws_parser_set_deflate(struct tt_ws_parser *p, bool on);

/* Parse the next frame from buf[0..len). Returns the frame's total length (header and
 * payload; consume that many bytes) with *f filled, TT_EAGAIN when the frame is not
 * complete, TT_EPARSE (close code 1002 or 1007 in *err) or TT_ETOOBIG (1009).
 *
 * On TT_EAGAIN a prefix of the partial payload may already be unmasked in place (that is
 * how bad UTF-8 is caught early): the next call must see the same bytes at buf[0..len) plus
 * whatever arrived since. The payload pointer of a returned frame is valid as long as the
 * caller keeps those bytes.
 *
 * Checks: masking per role; RSV2/RSV3 never, RSV1 only with deflate and only on the first
 * frame of a data message; opcodes 3-7 and 11-15; control frames <= 125 bytes and FIN set;
 * continuation without an open message, TEXT/BINARY while one is open; 64-bit length with
 * the top bit set; frame payload > max_frame or message > max_message (1009); UTF-8 of
 * uncompressed text messages across frames (1007; a compressed message is checked by the
 * caller after inflating it, with tt_ws_utf8_valid); close payload (1 byte: 1002, invalid
 * code: 1002, reason not UTF-8: 1007). Non-minimal length encodings are accepted (RFC 6455
 * does not forbid them on receipt). */
ssize_t tt_ws_parser_next(struct tt_ws_parser *p, uint8_t *buf, size_t len,
                          struct tt_ws_frame *f, struct tt_ws_error *err);

/* True while a data message is open (its final frame not yet seen). */
bool tt_ws_parser_in_message(const struct tt_ws_parser *p);

/* ---- message assembly ---- */

/* Gathers the data frames of one message. A message in a single frame is handed back
 * without copying (pointing at the frame payload); only a fragmented one is copied into
 * the assembler's buffer, which is freed again by tt_ws_assembler_release. */
struct tt_ws_assembler {
    struct tt_buf buf;
    uint8_t opcode;
    bool compressed;
    bool active;
};

/* max_message caps the assembled size (TT_ETOOBIG beyond; the parser's cap is normally the
 * same, so this only guards misuse). */
void tt_ws_assembler_init(struct tt_ws_assembler *a, size_t max_message);
/* Free the buffer (the assembler stays usable). */
void tt_ws_assembler_release(struct tt_ws_assembler *a);

/* Feed a data frame returned by the parser (control frames are the caller's: they may come
 * between the fragments and do not touch the assembler). Returns 1 when the message is
 * complete: *msg and *len give it, *opcode is TEXT or BINARY, *compressed tells whether it
 * must be inflated; valid until the next feed or release (call release once done with a
 * fragmented message so that an idle connection keeps no buffer). Returns 0 when more
 * frames are needed, TT_ETOOBIG over the cap, TT_EPARSE for a frame order the parser would
 * have refused. */
int tt_ws_assembler_feed(struct tt_ws_assembler *a, const struct tt_ws_frame *f,
                         const uint8_t **msg, size_t *len, uint8_t *opcode, bool *compressed);

/* ---- writers ---- */

/* Random bytes source, with OpenSSL's RAND_bytes signature (returns 1 on success). */
typedef int (*tt_ws_rng_fn)(unsigned char *buf, int num);

/* Write a frame header into out (TT_WS_MAX_HEADER bytes of room) and return its length.
 * mask NULL: unmasked (server role); else the 4-byte key is written (client role) and the
 * caller masks the payload with tt_ws_mask. Lengths use the minimal encoding. */
size_t tt_ws_frame_header(uint8_t *out, unsigned opcode, bool fin, bool rsv1,
                          uint64_t payload_len, const uint8_t *mask);

/* Fill mask[4] from rng. Returns 0, or -EIO when the generator fails. */
int tt_ws_mask_key(tt_ws_rng_fn rng, uint8_t mask[4]);

/* XOR data[0..len) with the mask in place; offset is the payload position of data[0] (so a
 * payload can be masked in pieces). tt_ws_mask_copy writes the masked bytes to dst. */
void tt_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);
void tt_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                     uint64_t offset);

/* Render a complete final frame (header + payload; masked when mask is not NULL) into out,
 * which has cap bytes. Returns the length, or TT_ETOOBIG when it does not fit. */
ssize_t tt_ws_frame_render(uint8_t *out, size_t cap, unsigned opcode, bool rsv1,
                           const void *payload, size_t len, const uint8_t *mask);

/* Render an unmasked final frame into one new tt_malloc'd block (the caller frees it with
 * free), for a published message rendered once and shared by every subscriber. */
uint8_t *tt_ws_frame_render_alloc(unsigned opcode, bool rsv1, const void *payload, size_t len,
                                  size_t *out_len);

/* ---- close payloads ---- */

/* True for a code that may appear in a close frame: 1000-1003, 1007-1014 (RFC 6455 7.4.1
 * and the IANA registry: 1012 service restart, 1013 try again later, 1014 bad gateway),
 * 3000-4999. Not 0-999, 1004 (reserved), 1005/1006/1015 (must not be sent), 1016-2999
 * (unassigned), >= 5000. */
bool tt_ws_close_code_valid(unsigned code);

/* Build a close payload into out (TT_WS_MAX_CONTROL bytes of room): code < 0 gives an empty
 * payload (no status, reason ignored); else the 2-byte code and the reason, cut at a
 * character boundary to TT_WS_MAX_CLOSE_REASON bytes (the reason is assumed UTF-8).
 * Returns the payload length. The code is written as given: check it first with
 * tt_ws_close_code_valid when it comes from a peer or a publisher. */
size_t tt_ws_close_payload(uint8_t *out, int code, const void *reason, size_t reason_len);

/* Parse and validate a received close payload: empty gives TT_WS_CLOSE_NO_STATUS; one byte
 * is 1002; an invalid code is 1002; a reason that is not UTF-8 is 1007. Returns 0 or
 * TT_EPARSE with *err set. */
int tt_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len, struct tt_ws_error *err);

#endif
