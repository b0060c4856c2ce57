/*
 * epctl: subcommands that live in their own files.
 */
#ifndef EPCTL_H
#define EPCTL_H

/* epctl query (query.c): argv as given to main; returns the exit code. */
int epctl_query(int argc, char **argv, const char *default_url);

#endif
