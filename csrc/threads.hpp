// Worker threads for the batched kernels (lut_sum, lut_predict): how many, and how rows are
// shared among them.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>

#if defined(__linux__)
#include <sched.h>
#endif

namespace segevo {

// $SEGEVO_NUM_THREADS if set, else the CPUs this process may run on (the affinity mask
// honours taskset and container cpusets, which hardware_concurrency() does not).
inline unsigned worker_threads() {
    if (const char* env = std::getenv("SEGEVO_NUM_THREADS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1) return static_cast<unsigned>(std::min(v, 1024L));
    }
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count >= 1) return static_cast<unsigned>(count);
    }
#endif
    return std::max(1u, std::thread::hardware_concurrency());
}

namespace threads_detail {

template <class Body>
struct RowSchedule {
    RowSchedule(std::size_t n_rows, std::size_t rows_per_grab, Body* fn)
        : n(n_rows), grab(rows_per_grab), body(fn) {}

    const std::size_t n;
    const std::size_t grab;
    Body* const body;  // valid until every row is done (the caller waits for that)
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::condition_variable finished;

    // Grabs blocks of rows until none is left. After a failure, the remaining blocks are
    // still grabbed (so that `done` reaches n) but not run.
    static void work(const std::shared_ptr<RowSchedule>& s) {
        for (;;) {
            const std::size_t r0 = s->next.fetch_add(s->grab);
            if (r0 >= s->n) return;
            const std::size_t r1 = std::min(s->n, r0 + s->grab);
            if (!s->failed.load() && !(*s->body)(r0, r1)) s->failed.store(true);
            if (s->done.fetch_add(r1 - r0) + (r1 - r0) == s->n) {
                const std::lock_guard<std::mutex> lock(s->mutex);
                s->finished.notify_all();
            }
        }
    }
};

}  // namespace threads_detail

// Runs body(r0, r1) -> bool over the rows [0, n) in blocks of `rows_per_grab`, on the calling
// thread and up to n_threads - 1 helpers that pull blocks from a shared counter (so a helper
// preempted by other processes holds up one block at most). Returns false if any block's
// body returned false; blocks not yet started then are skipped.
//
// It returns as soon as every block has run, without waiting for helpers to finish starting:
// on a loaded machine a new thread may wait many milliseconds for a core, and joining it
// would add that wait to every call. Helpers are detached and share the schedule through a
// shared_ptr; one that starts late finds no rows left and exits without touching `body`.
template <class Body>
bool parallel_rows(std::size_t n, std::size_t rows_per_grab, std::size_t n_threads, Body&& body) {
    using Schedule = threads_detail::RowSchedule<std::remove_reference_t<Body>>;
    if (n == 0) return true;
    if (n_threads <= 1 || n <= rows_per_grab) return body(std::size_t{0}, n);
    auto schedule = std::make_shared<Schedule>(n, rows_per_grab, &body);
    for (std::size_t t = 1; t < n_threads; ++t) {
        try {
            std::thread(&Schedule::work, schedule).detach();
        } catch (const std::system_error&) {
            break;  // no more threads: the rows still get done by the ones running
        }
    }
    Schedule::work(schedule);
    std::unique_lock<std::mutex> lock(schedule->mutex);
    schedule->finished.wait(lock, [&] { return schedule->done.load() == n; });
    return !schedule->failed.load();
}

}  // namespace segevo
