/* The program's CPU time.
 *
 * Unikraft 0.17's getrusage fills zeros, times fails with ENOTSUP and
 * clock_gettime knows no CPU-time clock: Sys.time and Unix.times said 0
 * however long a program computed (a loop waiting for two seconds of CPU
 * never ended), and C's clock() failed.
 *
 * A unikernel is one process on one vCPU, and the cooperative scheduler
 * counts the time each thread ran, the idle thread's too: the process's
 * CPU time is the time since boot less the idle thread's. It is all user
 * time (there is no kernel apart from the program) and children have
 * none. A thread's own CPU time is not counted (CLOCK_THREAD_CPUTIME_ID
 * stays unsupported).
 *
 * The final link wraps the system calls (-Wl,--wrap=uk_syscall_r_getrusage
 * and the others, see Makefile.uk). */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>
#include <uk/plat/time.h>
#include <uk/sched.h>

long __real_uk_syscall_r_clock_gettime(long clock, long tp);
long __wrap_uk_syscall_r_clock_gettime(long clock, long tp);
long __wrap_uk_syscall_r_getrusage(long who, long usage);
long __wrap_uk_syscall_r_times(long buf);

#define NSEC_PER_SEC 1000000000ULL

static __nsec cpu_time(void)
{
	struct uk_sched *sched = uk_sched_current();
	const struct uk_thread *idle =
		sched ? uk_sched_idle_thread(sched, 0) : NULL;
	__nsec now = ukplat_monotonic_clock();

	if (!idle || idle->exec_time > now)
		return now;
	return now - idle->exec_time;
}

long __wrap_uk_syscall_r_clock_gettime(long clock, long tp)
{
	struct timespec *ts = (struct timespec *)tp;
	__nsec t;

	if (clock != CLOCK_PROCESS_CPUTIME_ID)
		return __real_uk_syscall_r_clock_gettime(clock, tp);
	if (!ts)
		return -EFAULT;
	t = cpu_time();
	ts->tv_sec = t / NSEC_PER_SEC;
	ts->tv_nsec = t % NSEC_PER_SEC;
	return 0;
}

long __wrap_uk_syscall_r_getrusage(long who, long usage)
{
	struct rusage *ru = (struct rusage *)usage;
	__nsec t;

	if (!ru)
		return -EFAULT;
	if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD)
		return -EINVAL;
	memset(ru, 0, sizeof(*ru));
	if (who == RUSAGE_CHILDREN)
		return 0;
	t = cpu_time();
	ru->ru_utime.tv_sec = t / NSEC_PER_SEC;
	ru->ru_utime.tv_usec = (t % NSEC_PER_SEC) / 1000;
	return 0;
}

/* Clock ticks, as musl's sysconf(_SC_CLK_TCK) gives them: 100 a second. */
#define TICKS_PER_SEC 100ULL

long __wrap_uk_syscall_r_times(long buf)
{
	struct tms *tms = (struct tms *)buf;

	if (tms) {
		memset(tms, 0, sizeof(*tms));
		tms->tms_utime = cpu_time() / (NSEC_PER_SEC / TICKS_PER_SEC);
	}
	/* Ticks since an arbitrary point: the boot. */
	return ukplat_monotonic_clock() / (NSEC_PER_SEC / TICKS_PER_SEC);
}
