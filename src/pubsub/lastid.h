/* lastid.h: the known last id per channel (SPEC.md 4 "Reliability"): the id of the last
 * sequenced publish on a channel that has (or recently had) subscribers. The control
 * thread moves it on as it delivers; workers read it when a hold with prev-id starts and
 * clear it when they start a recovery, so that a recovery cannot loop.
 * Owner: embedded in the server; values are copies. Thread: any (one mutex). */
#ifndef TT_LASTID_H
#define TT_LASTID_H

#include <uv.h>

#include "core/map.h"

struct tt_lastids {
    uv_mutex_t lock;
    struct tt_map ids; /* channel -> char * */
};

void tt_lastids_init(struct tt_lastids *l);
void tt_lastids_deinit(struct tt_lastids *l);
/* A copy of the channel's last id (caller frees), or NULL. */
char *tt_lastids_get(struct tt_lastids *l, const char *channel);
/* Set (id != NULL) or forget (id == NULL). */
void tt_lastids_set(struct tt_lastids *l, const char *channel, const char *id);
/* True if the channel's last id is known and equals id. */
bool tt_lastids_is(struct tt_lastids *l, const char *channel, const char *id);
void tt_lastids_clear(struct tt_lastids *l);

#endif
