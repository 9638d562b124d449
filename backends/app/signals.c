/* Signals a program sends to itself, delivered as on Linux.
 *
 * Unikraft 0.17's signal system calls (lib/uksignal) are stubs:
 * rt_sigaction records nothing, rt_sigprocmask leaves the old mask
 * unwritten (OCaml reads it to decide which pending signals it may run),
 * kill fails with ESRCH for any pid but 0 and tkill does nothing. So
 * `Unix.kill (Unix.getpid ()) Sys.sighup` failed, raise() was silently
 * lost, and a program's handlers never ran.
 *
 * A unikernel is one process, and nothing outside it sends it signals;
 * what remains is what the program sends itself (kill of its own pid, 0
 * or -1; raise and pthread_kill, through tkill), and that is what
 * this library implements, with Linux's rules:
 *
 * - rt_sigaction keeps each signal's action (handler, flags, mask);
 * - rt_sigprocmask keeps a mask per thread (SIGKILL and SIGSTOP cannot be
 *   blocked) and reports the old one;
 * - a signal sent to oneself is delivered before kill() returns when the
 *   sending thread does not block it (POSIX asks for that), otherwise it
 *   stays pending (rt_sigpending shows it) until a thread that does not
 *   block it unblocks it or gives the CPU away (sched_yield: OCaml's
 *   runtime does at every minor collection on Unikraft), so that a
 *   signal the sender blocks reaches a thread that computes;
 * - delivery runs the handler on the thread's stack with the action's
 *   mask and the signal itself blocked (unless SA_NODEFER), resets the
 *   action first under SA_RESETHAND, and passes a siginfo_t with SI_USER
 *   and the sender's pid under SA_SIGINFO;
 * - sigwait and sigtimedwait take a pending signal of the set, waiting
 *   (giving the CPU to the other threads) until one comes or the timeout
 *   passes; sigsuspend waits with a mask of its own until a signal is
 *   delivered;
 * - the default action ignores SIGCHLD, SIGCONT, SIGURG and SIGWINCH (and
 *   the stop signals: there is no job control), and ends the program with
 *   status 128 + the signal number, what a shell reports for a process a
 *   signal killed, for every other signal.
 *
 * The final link wraps the system calls (-Wl,--wrap=uk_syscall_r_kill and
 * the others, see Makefile.uk) so that musl's calls reach these functions.
 * Unikraft's scheduler is cooperative and nothing here yields, so the
 * tables need no lock; a signal is delivered synchronously, on the thread
 * that sent or unblocked it. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The kernel's sigaction, as musl passes it (internal/ksigaction.h). */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned int mask[2];
};

#define NSIG_MAX 64
#define BIT(sig) (UINT64_C(1) << ((sig) - 1))
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))

static struct k_sigaction actions[NSIG_MAX + 1];
/* Signals sent to the process (or to a thread) and not yet delivered. */
static uint64_t pending;
static __thread uint64_t blocked;

long uk_syscall_r_getpid(void);
long uk_syscall_r_gettid(void);

long __wrap_uk_syscall_r_rt_sigaction(long signum, long act, long oldact,
				      long sigsetsize);
long __wrap_uk_syscall_r_rt_sigprocmask(long how, long set, long oldset,
					long sigsetsize);
long __wrap_uk_syscall_r_rt_sigpending(long set, long sigsetsize);
long __wrap_uk_syscall_r_kill(long pid, long sig);
long __wrap_uk_syscall_r_tkill(long tid, long sig);
long __wrap_uk_syscall_r_rt_sigtimedwait(long set, long info, long timeout,
					 long sigsetsize);
long __wrap_uk_syscall_r_rt_sigsuspend(long mask, long sigsetsize);
long __real_uk_syscall_r_sched_yield(void);
long __wrap_uk_syscall_r_sched_yield(void);

static uint64_t mask_of(const unsigned int mask[2])
{
	return (uint64_t)mask[0] | ((uint64_t)mask[1] << 32);
}

static int ignored_by_default(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 1;
	default:
		return 0;
	}
}

static void fill_info(siginfo_t *info, int sig)
{
	memset(info, 0, sizeof(*info));
	info->si_signo = sig;
	info->si_code = SI_USER;
	info->si_pid = (pid_t)uk_syscall_r_getpid();
}

static void deliver(int sig)
{
	struct k_sigaction action = actions[sig];
	uint64_t saved = blocked;

	if (action.handler == SIG_IGN)
		return;
	if (action.handler == SIG_DFL) {
		if (!ignored_by_default(sig))
			_Exit(128 + sig);
		return;
	}
	if (action.flags & SA_RESETHAND)
		actions[sig].handler = SIG_DFL;
	blocked |= mask_of(action.mask) & ~UNBLOCKABLE;
	if (!(action.flags & SA_NODEFER))
		blocked |= BIT(sig);
	if (action.flags & SA_SIGINFO) {
		siginfo_t info;

		fill_info(&info, sig);
		/* Under SA_SIGINFO the handler field holds a sa_sigaction. */
		void (*sigaction)(int, siginfo_t *, void *) =
			(void (*)(int, siginfo_t *, void *))(void (*)(void))
				action.handler;

		sigaction(sig, &info, NULL);
	} else {
		action.handler(sig);
	}
	blocked = saved;
}

/* Delivers every pending signal this thread does not block, lowest
 * number first, as Linux does for standard signals. */
static void deliver_pending(void)
{
	uint64_t ready;

	while ((ready = pending & ~blocked) != 0) {
		int sig = __builtin_ctzll(ready) + 1;

		pending &= ~BIT(sig);
		deliver(sig);
	}
}

static long send_to_self(long sig)
{
	if (sig < 0 || sig > NSIG_MAX)
		return -EINVAL;
	if (sig == 0)
		return 0;
	pending |= BIT(sig);
	deliver_pending();
	return 0;
}

long __wrap_uk_syscall_r_rt_sigaction(long signum, long act, long oldact,
				      long sigsetsize)
{
	const struct k_sigaction *new = (const struct k_sigaction *)act;

	if (signum < 1 || signum > NSIG_MAX || sigsetsize != 8)
		return -EINVAL;
	if (new && (signum == SIGKILL || signum == SIGSTOP))
		return -EINVAL;
	if (oldact)
		*(struct k_sigaction *)oldact = actions[signum];
	if (new) {
		actions[signum] = *new;
		/* Setting a pending signal's action to ignore discards it. */
		if (new->handler == SIG_IGN ||
		    (new->handler == SIG_DFL && ignored_by_default(signum)))
			pending &= ~BIT(signum);
	}
	return 0;
}

long __wrap_uk_syscall_r_rt_sigprocmask(long how, long set, long oldset,
					long sigsetsize)
{
	uint64_t change;

	if (sigsetsize != 8)
		return -EINVAL;
	if (oldset)
		memcpy((void *)oldset, &blocked, sizeof(blocked));
	if (!set)
		return 0;
	memcpy(&change, (const void *)set, sizeof(change));
	switch (how) {
	case SIG_BLOCK:
		blocked |= change;
		break;
	case SIG_UNBLOCK:
		blocked &= ~change;
		break;
	case SIG_SETMASK:
		blocked = change;
		break;
	default:
		return -EINVAL;
	}
	blocked &= ~UNBLOCKABLE;
	deliver_pending();
	return 0;
}

/* A thread giving the CPU away takes the pending signals it does not block,
 * before and after: the one point where a thread that computes (and makes
 * no other system call) can be reached. */
long __wrap_uk_syscall_r_sched_yield(void)
{
	long rc;

	deliver_pending();
	rc = __real_uk_syscall_r_sched_yield();
	deliver_pending();
	return rc;
}

long __wrap_uk_syscall_r_rt_sigpending(long set, long sigsetsize)
{
	uint64_t waiting = pending & blocked;

	if (sigsetsize != 8)
		return -EINVAL;
	memcpy((void *)set, &waiting, sizeof(waiting));
	return 0;
}

long __wrap_uk_syscall_r_kill(long pid, long sig)
{
	long self = uk_syscall_r_getpid();

	/* Our pid, our process group (0, or minus our pid, the group's id)
	 * or every process we may signal (-1): always just us. */
	if (pid != self && pid != 0 && pid != -1 && pid != -self)
		return -ESRCH;
	return send_to_self(sig);
}

long __wrap_uk_syscall_r_tkill(long tid, long sig)
{
	/* Another thread gets it when it next unblocks or sends a signal:
	 * without preemption nothing can interrupt it sooner. */
	if (tid <= 0)
		return -EINVAL;
	return send_to_self(sig);
}

static uint64_t nanoseconds_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

long __wrap_uk_syscall_r_rt_sigtimedwait(long set, long info, long timeout,
					 long sigsetsize)
{
	const struct timespec *limit = (const struct timespec *)timeout;
	uint64_t wanted, deadline = 0;

	if (sigsetsize != 8)
		return -EINVAL;
	memcpy(&wanted, (const void *)set, sizeof(wanted));
	if (limit)
		deadline = nanoseconds_now() +
			   (uint64_t)limit->tv_sec * 1000000000u +
			   (uint64_t)limit->tv_nsec;
	for (;;) {
		uint64_t ready = pending & wanted;

		if (ready) {
			int sig = __builtin_ctzll(ready) + 1;

			pending &= ~BIT(sig);
			if (info)
				fill_info((siginfo_t *)info, sig);
			return sig;
		}
		if (limit && nanoseconds_now() >= deadline)
			return -EAGAIN;
		/* The signal can only come from another thread. */
		sched_yield();
	}
}

long __wrap_uk_syscall_r_rt_sigsuspend(long mask, long sigsetsize)
{
	uint64_t saved = blocked;

	if (sigsetsize != 8)
		return -EINVAL;
	memcpy(&blocked, (const void *)mask, sizeof(blocked));
	blocked &= ~UNBLOCKABLE;
	while (!(pending & ~blocked))
		sched_yield();
	deliver_pending();
	blocked = saved;
	return -EINTR;
}
