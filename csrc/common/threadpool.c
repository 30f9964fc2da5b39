/* A small persistent thread pool: one job at a time, tasks handed out by an atomic counter.
 *
 * The calling thread always works on its own job, and never waits for a worker that has
 * not started: a worker must *enter* the job (a compare-and-swap on the job state that
 * fails once the job is closed), the caller closes the job when no task is left to hand
 * out, and then waits only for the workers that entered — they are running, so the wait
 * is short. A worker that wakes late (common on a busy machine) finds the job closed and
 * goes back to sleep. So a parallel call is never slower than the caller alone by more
 * than the cost of posting and closing the job.
 *
 * Job state, one 64-bit word: generation (32 bits) | closed (bit 31) | workers inside
 * (bits 0-30). Workers spin after a job (QE_SPIN pauses: ~1 ms on x86, where a pause is
 * ~10 ns; the next op of a graph usually follows within microseconds, and one op of a
 * graph running on the caller alone can take tens of them), then sleep on a condition
 * variable. With ~40 us of spin the worker often slept between the ops of a MobileNetV2
 * inference and was woken from a deep idle state: 2-thread runs after an idle period took
 * 2.2 ms instead of 1.5 ms. The cost is up to ~1 ms of one core spinning after each
 * multi-threaded inference. Which thread runs which task
 * never changes a result: every task writes its own outputs. */
#include "qengine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define QE_MAX_WORKERS 63
#define QE_SPIN 100000
#define CLOSED ((uint64_t)1 << 31)
#define INSIDE ((uint64_t)CLOSED - 1)
#define GEN(s) ((s) >> 32)

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

static struct {
  pthread_mutex_t job_lock; /* held by the one caller whose job runs */
  pthread_mutex_t mu;       /* guards sleeping and waking */
  pthread_cond_t wake, done;
  int nworkers;
  uint64_t start_gen[QE_MAX_WORKERS];
  _Atomic uint64_t state;
  /* the job; written by the caller before it publishes a new generation, read by a worker
   * only after it entered that generation (so never torn) */
  qe_task_fn fn;
  void* ctx;
  size_t n;
  uint64_t max_inside; /* num_threads - 1 */
  atomic_size_t next;
} P = {.job_lock = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void run_tasks(void) {
  for (;;) {
    const size_t i = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed);
    if (i >= P.n) return;
    P.fn(P.ctx, i);
  }
}

/* Enter generation `gen` unless it is closed, gone, or has enough workers inside. */
static int try_enter(uint64_t gen) {
  uint64_t s = atomic_load_explicit(&P.state, memory_order_acquire);
  while (GEN(s) == gen && !(s & CLOSED) && (s & INSIDE) < P.max_inside)
    if (atomic_compare_exchange_weak_explicit(&P.state, &s, s + 1, memory_order_acq_rel,
                                              memory_order_acquire))
      return 1;
  return 0;
}

static void leave(void) {
  const uint64_t s = atomic_fetch_sub_explicit(&P.state, 1, memory_order_acq_rel) - 1;
  if ((s & CLOSED) && (s & INSIDE) == 0) {
    pthread_mutex_lock(&P.mu);
    pthread_cond_signal(&P.done);
    pthread_mutex_unlock(&P.mu);
  }
}

static void* worker_main(void* arg) {
  uint64_t seen = P.start_gen[(intptr_t)arg];
  for (;;) {
    uint64_t gen = GEN(atomic_load_explicit(&P.state, memory_order_acquire));
    for (int s = 0; gen == seen && s < QE_SPIN; s++) {
      cpu_relax();
      gen = GEN(atomic_load_explicit(&P.state, memory_order_acquire));
    }
    if (gen == seen) {
      pthread_mutex_lock(&P.mu);
      while ((gen = GEN(atomic_load_explicit(&P.state, memory_order_acquire))) == seen)
        pthread_cond_wait(&P.wake, &P.mu);
      pthread_mutex_unlock(&P.mu);
    }
    seen = gen;
    if (try_enter(gen)) {
      run_tasks();
      leave();
    }
  }
  return NULL;
}

/* After fork() only the forking thread exists in the child: start with no workers. */
static void reset_after_fork(void) {
  pthread_mutex_init(&P.job_lock, NULL);
  pthread_mutex_init(&P.mu, NULL);
  pthread_cond_init(&P.wake, NULL);
  pthread_cond_init(&P.done, NULL);
  P.nworkers = 0;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, reset_after_fork); }

/* Called with job_lock held: start workers until `want` exist (fewer if creation fails). */
static void ensure_workers(int want) {
  if (want > QE_MAX_WORKERS) want = QE_MAX_WORKERS;
  while (P.nworkers < want) {
    const int id = P.nworkers;
    P.start_gen[id] = GEN(atomic_load(&P.state));
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int err = pthread_create(&t, &attr, worker_main, (void*)(intptr_t)id);
    pthread_attr_destroy(&attr);
    if (err) return;
    P.nworkers++;
  }
}

void qe_parallel_for(int num_threads, size_t n, qe_task_fn fn, void* ctx) {
  if (num_threads > 1 && n > 1) pthread_once(&g_once, install_fork_handler);
  if (num_threads <= 1 || n <= 1 || pthread_mutex_trylock(&P.job_lock) != 0) {
    for (size_t i = 0; i < n; i++) fn(ctx, i);
    return;
  }
  const size_t helpers = (size_t)num_threads - 1 < n - 1 ? (size_t)num_threads - 1 : n - 1;
  ensure_workers((int)helpers);
  P.fn = fn;
  P.ctx = ctx;
  P.n = n;
  P.max_inside = helpers;
  atomic_store_explicit(&P.next, 0, memory_order_relaxed);
  pthread_mutex_lock(&P.mu);
  const uint64_t gen = GEN(atomic_load(&P.state)) + 1;
  atomic_store_explicit(&P.state, gen << 32, memory_order_release);
  pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.mu);

  run_tasks();

  /* no task is left to hand out: close the job, then wait for the workers inside */
  uint64_t s = atomic_fetch_or_explicit(&P.state, CLOSED, memory_order_acq_rel) | CLOSED;
  for (int spin = 0; (s & INSIDE) && spin < QE_SPIN; spin++) {
    cpu_relax();
    s = atomic_load_explicit(&P.state, memory_order_acquire);
  }
  if (s & INSIDE) {
    pthread_mutex_lock(&P.mu);
    while (atomic_load_explicit(&P.state, memory_order_acquire) & INSIDE)
      pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
  }
  pthread_mutex_unlock(&P.job_lock);
}
