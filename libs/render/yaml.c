/*
 * render: the YAML writer (see render_internal.h).  libyaml decides layout
 * and escaping; we only decide when a string must be quoted, because the
 * emitter does not know that a plain `true` or `1.20` would be read back as
 * a boolean or a number.
 */
#include "render/render.h"
#include "render_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int write_handler(void *data, unsigned char *bytes, size_t size)
{
    render__yw *w = data;

    if (w->len + size + 1 > w->cap) {
        size_t ncap = w->cap ? w->cap : 1024;
        char  *nb;
        while (ncap < w->len + size + 1)
            ncap *= 2;
        nb = realloc(w->buf, ncap);
        if (nb == NULL)
            return 0;   /* libyaml reports a writer error */
        w->buf = nb;
        w->cap = ncap;
    }
    memcpy(w->buf + w->len, bytes, size);
    w->len += size;
    w->buf[w->len] = '\0';
    return 1;
}

static void emit(render__yw *w, yaml_event_t *ev, int init_ok)
{
    if (w->failed) {
        if (init_ok)
            yaml_event_delete(ev);
        return;
    }
    if (!init_ok) {
        w->failed = RENDER_ENOMEM;
        return;
    }
    /* yaml_emitter_emit takes the event over, success or not. */
    if (!yaml_emitter_emit(&w->em, ev))
        w->failed = w->em.error == YAML_MEMORY_ERROR || w->em.error == YAML_WRITER_ERROR ? RENDER_ENOMEM : RENDER_EYAML;
}

int render__yw_init(render__yw *w)
{
    yaml_event_t ev;

    memset(w, 0, sizeof *w);
    if (!yaml_emitter_initialize(&w->em))
        return RENDER_ENOMEM;
    w->started = 1;
    yaml_emitter_set_output(&w->em, write_handler, w);
    yaml_emitter_set_unicode(&w->em, 1);
    yaml_emitter_set_width(&w->em, -1);   /* never fold long strings */
    yaml_emitter_set_indent(&w->em, 2);
    emit(w, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    return w->failed;
}

void render__yw_dispose(render__yw *w)
{
    if (w->started)
        yaml_emitter_delete(&w->em);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

int render__yw_finish(render__yw *w, char **out, size_t *len)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_stream_end_event_initialize(&ev));
    if (!w->failed && !yaml_emitter_flush(&w->em))
        w->failed = RENDER_ENOMEM;
    if (w->failed)
        return w->failed;
    if (w->buf == NULL && write_handler(w, (unsigned char *)"", 0) == 0)
        return RENDER_ENOMEM;
    *out = w->buf;
    *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    return 0;
}

void render__yw_doc_begin(render__yw *w)
{
    yaml_event_t ev;

    /* Every document after the first needs its explicit "---". */
    emit(w, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, w->ndocs == 0));
    w->ndocs++;
}

void render__yw_doc_end(render__yw *w)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_document_end_event_initialize(&ev, 1));
}

void render__yw_map_begin(render__yw *w)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

void render__yw_map_end(render__yw *w)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_mapping_end_event_initialize(&ev));
}

void render__yw_seq_begin(render__yw *w)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
}

void render__yw_seq_end(render__yw *w)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* Would a plain scalar s resolve to something other than a string under
 * YAML 1.1 or 1.2 (core schema)?  Deliberately broad: anything starting like
 * a number, and every boolean/null spelling of YAML 1.1. */
static int needs_quotes(const char *s)
{
    static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~" };
    unsigned char c = (unsigned char)s[0];

    if (c == '\0')
        return 1;
    if (isdigit(c) || c == '+' || c == '-' || c == '.')
        return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

static void scalar(render__yw *w, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;

    emit(w, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style));
}

void render__yw_str(render__yw *w, const char *s)
{
    if (s == NULL)
        s = "";
    /* ANY lets libyaml pick plain when the text allows it and quote
     * otherwise (': ', '#', leading indicators, line breaks ...). */
    scalar(w, s, needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

void render__yw_int(render__yw *w, long long v)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%lld", v);
    scalar(w, buf, YAML_PLAIN_SCALAR_STYLE);
}

void render__yw_bool(render__yw *w, int v)
{
    scalar(w, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

void render__yw_kv(render__yw *w, const char *k, const char *v)
{
    render__yw_str(w, k);
    render__yw_str(w, v);
}

void render__yw_kv_int(render__yw *w, const char *k, long long v)
{
    render__yw_str(w, k);
    render__yw_int(w, v);
}

void render__yw_kv_bool(render__yw *w, const char *k, int v)
{
    render__yw_str(w, k);
    render__yw_bool(w, v);
}
