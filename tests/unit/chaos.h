/*
 * chaos.h: allocation-failure injection for unit tests (STYLE: "one test
 * fails each allocation in turn").  Include it in exactly one .c of a test
 * program: it defines that program's malloc family.  Not a .c of its own on
 * purpose: every helper .c in tests/unit is linked into every test program, and
 * only the programs that want it should replace their allocator.
 */
#ifndef EP_TEST_CHAOS_H
#define EP_TEST_CHAOS_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation failure injection ---------------------------------------------
 * This program replaces malloc/calloc/realloc/free (glibc allows it) with
 * thin wrappers over glibc's own allocator that can fail the Nth allocation
 * and count live blocks, so a test can fail each allocation of an operation
 * in turn and check that every failure is reported and that nothing leaks
 * on that path.  ASan and valgrind own malloc themselves (valgrind even
 * redirects the executable's), so there the wrappers are inert and
 * chaos_available() says so; the tests then skip. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHAOS_DISABLED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CHAOS_DISABLED 1
#endif

static long chaos_fail_at = -1;   /* index of the allocation to fail, -1 = none */
static long chaos_count;          /* allocations seen since arming */
static long chaos_live;           /* blocks allocated and not yet freed */

static __attribute__((unused)) void chaos_arm(long n)
{
    chaos_count = 0;
    chaos_fail_at = n;
}

/* Disarm; returns 1 if the armed failure was actually injected. */
static __attribute__((unused)) int chaos_disarm(void)
{
    int hit = chaos_fail_at >= 0 && chaos_count > chaos_fail_at;
    chaos_fail_at = -1;
    return hit;
}

/* 1 if an armed failure really reaches a call made from elsewhere. */
static __attribute__((unused)) int chaos_available(void)
{
    void *(*volatile m)(size_t) = malloc;
    void *p;

    chaos_arm(0);
    p = m(16);
    chaos_disarm();
    free(p);
    return p == NULL;
}

#ifndef CHAOS_DISABLED
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);
extern void  __libc_free(void *p);

static int chaos_fail(void)
{
    return chaos_fail_at >= 0 && chaos_count++ == chaos_fail_at;
}

void *malloc(size_t n)
{
    void *p = chaos_fail() ? NULL : __libc_malloc(n);
    chaos_live += p != NULL;
    return p;
}

void *calloc(size_t n, size_t sz)
{
    void *p = chaos_fail() ? NULL : __libc_calloc(n, sz);
    chaos_live += p != NULL;
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p;

    if (old != NULL && n == 0) {
        free(old);
        return NULL;
    }
    p = chaos_fail() ? NULL : __libc_realloc(old, n);
    chaos_live += old == NULL && p != NULL;
    return p;
}

void free(void *p)
{
    chaos_live -= p != NULL;
    __libc_free(p);
}

/* valgrind replaces libc's strdup; route these through malloc so they are
 * counted like everything else. */
char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char  *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char  *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
#endif

#endif
