// How many worker threads the batched kernels (lut_sum, lut_predict) may start.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <thread>

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

}  // namespace segevo
