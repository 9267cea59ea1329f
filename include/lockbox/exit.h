/* Exit codes shared by every lockbox binary (sysexits.h values). */
#ifndef LOCKBOX_EXIT_H
#define LOCKBOX_EXIT_H

enum lb_exit {
	LB_EXIT_OK = 0,
	LB_EXIT_FAILURE = 1,   /* generic failure (lockboxd, lockboxctl) */
	LB_EXIT_USAGE = 64,    /* EX_USAGE: bad command line */
	LB_EXIT_DATAERR = 65,  /* EX_DATAERR: expired or malformed secret/manifest */
	LB_EXIT_NOINPUT = 66,  /* EX_NOINPUT: no such secret */
	LB_EXIT_TEMPFAIL = 75, /* EX_TEMPFAIL: timed out waiting */
	LB_EXIT_NOPERM = 77,   /* EX_NOPERM: unsafe location or permission */
};

#endif
