/* A small persistent thread pool: one job at a time, tasks handed out by an atomic counter.
 *
 * Workers spin briefly after a job (the next op of a graph usually follows within
 * microseconds), then sleep on a condition variable. A job is published as one 64-bit
 * word, (generation << 8) | participating workers, so a worker never pairs one job's
 * generation with another's worker count. Which thread runs which task never changes
 * a result: every task writes its own outputs. */
#include "qengine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define QE_MAX_WORKERS 63
#define QE_SPIN 4000

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
  uint64_t start_word[QE_MAX_WORKERS];
  _Atomic uint64_t word; /* (generation << 8) | workers taking part */
  qe_task_fn fn;
  void* ctx;
  size_t n;
  atomic_size_t next;
  atomic_int pending;
} P = {.job_lock = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void run_tasks(void) {
  for (;;) {
    const size_t i = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed);
    if (i >= P.n) return;
    P.fn(P.ctx, i);
  }
}

static void* worker_main(void* arg) {
  const int id = (int)(intptr_t)arg;
  uint64_t seen = P.start_word[id];
  for (;;) {
    uint64_t w = atomic_load_explicit(&P.word, memory_order_acquire);
    for (int s = 0; w == seen && s < QE_SPIN; s++) {
      cpu_relax();
      w = atomic_load_explicit(&P.word, memory_order_acquire);
    }
    if (w == seen) {
      pthread_mutex_lock(&P.mu);
      while ((w = atomic_load_explicit(&P.word, memory_order_acquire)) == seen)
        pthread_cond_wait(&P.wake, &P.mu);
      pthread_mutex_unlock(&P.mu);
    }
    seen = w;
    if (id < (int)(w & 0xFF)) {
      run_tasks();
      if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_signal(&P.done);
        pthread_mutex_unlock(&P.mu);
      }
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

/* Called with job_lock held. Returns how many workers exist (may be fewer than asked). */
static int ensure_workers(int want) {
  if (want > QE_MAX_WORKERS) want = QE_MAX_WORKERS;
  while (P.nworkers < want) {
    const int id = P.nworkers;
    P.start_word[id] = atomic_load(&P.word);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int err = pthread_create(&t, &attr, worker_main, (void*)(intptr_t)id);
    pthread_attr_destroy(&attr);
    if (err) break;
    P.nworkers++;
  }
  return P.nworkers;
}

void qe_parallel_for(int num_threads, size_t n, qe_task_fn fn, void* ctx) {
  if (num_threads > 1 && n > 1) pthread_once(&g_once, install_fork_handler);
  if (num_threads <= 1 || n <= 1 || pthread_mutex_trylock(&P.job_lock) != 0) {
    for (size_t i = 0; i < n; i++) fn(ctx, i);
    return;
  }
  int helpers = num_threads - 1;
  if ((size_t)helpers > n - 1) helpers = (int)(n - 1);
  helpers = ensure_workers(helpers) < helpers ? P.nworkers : helpers;
  P.fn = fn;
  P.ctx = ctx;
  P.n = n;
  atomic_store_explicit(&P.next, 0, memory_order_relaxed);
  atomic_store_explicit(&P.pending, helpers, memory_order_relaxed);
  pthread_mutex_lock(&P.mu);
  const uint64_t gen = (atomic_load(&P.word) >> 8) + 1;
  atomic_store_explicit(&P.word, (gen << 8) | (uint64_t)helpers, memory_order_release);
  pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.mu);

  run_tasks();

  for (int s = 0; atomic_load_explicit(&P.pending, memory_order_acquire) != 0 && s < QE_SPIN; s++)
    cpu_relax();
  if (atomic_load_explicit(&P.pending, memory_order_acquire) != 0) {
    pthread_mutex_lock(&P.mu);
    while (atomic_load_explicit(&P.pending, memory_order_acquire) != 0)
      pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
  }
  pthread_mutex_unlock(&P.job_lock);
}
