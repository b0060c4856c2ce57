/*
 * render internals: a thin writer over libyaml's event emitter.  It turns
 * "begin a mapping, key, value" calls into emitter events and remembers the
 * first failure, so rendering code can emit a whole document and check once
 * at the end (the IFOK style of a single cleanup path).
 */
#ifndef EP_RENDER_INTERNAL_H
#define EP_RENDER_INTERNAL_H

#include <stddef.h>

#include <yaml.h>

typedef struct render__yw {
    yaml_emitter_t em;
    char          *buf;
    size_t         len, cap;
    int            started;   /* emitter initialised */
    int            ndocs;     /* documents begun in this stream */
    int            failed;    /* RENDER_* status of the first failure, 0 if none */
} render__yw;

/* Start a stream.  Returns 0 or a RENDER_* status. */
int  render__yw_init(render__yw *w);
/* Free the emitter and any buffer not taken by render__yw_finish. */
void render__yw_dispose(render__yw *w);
/* End the stream and hand the bytes over (*out owned by the caller). */
int  render__yw_finish(render__yw *w, char **out, size_t *len);

void render__yw_doc_begin(render__yw *w);
void render__yw_doc_end(render__yw *w);
void render__yw_map_begin(render__yw *w);
void render__yw_map_end(render__yw *w);
void render__yw_seq_begin(render__yw *w);
void render__yw_seq_end(render__yw *w);
/* A string scalar: quoted whenever a plain one would read as something else
 * (a number, a boolean, null, empty). */
void render__yw_str(render__yw *w, const char *s);
/* Plain scalars that must stay typed (integers, booleans). */
void render__yw_int(render__yw *w, long long v);
void render__yw_bool(render__yw *w, int v);
/* key: value shorthands. */
void render__yw_kv(render__yw *w, const char *k, const char *v);
void render__yw_kv_int(render__yw *w, const char *k, long long v);
void render__yw_kv_bool(render__yw *w, const char *k, int v);

#endif
