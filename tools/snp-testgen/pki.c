/*
 * snp-testgen pki.c: TEST TOOLING ONLY.  Compiles the unit tests' throw-away
 * AMD-like PKI (tests/unit/snp_pki.c) into this tool, so end-to-end tests
 * generate evidence with exactly the code the unit tests trust, instead of
 * a second copy of it.
 */
#include "../../tests/unit/snp_pki.c"
