#pragma once
// keep_fetch_buffers_in_heap: glibc malloc settings for a process that consumes Kafka at full speed.
//
// Why: librdkafka allocates a buffer for every fetch response on its broker thread. With glibc's defaults
// such a buffer is mmap'ed, or comes from the top of the thread's heap, which is returned to the OS when it
// is freed (trim threshold 128 kB, raised only as large blocks come and go); the next response then grows the
// heap again and faults its pages back in. Measured in the end-to-end bench (bench/e2e/run_e2e.sh, perf on
// the consuming process): the broker thread spent 5.4% of the process's CPU in sysmalloc with the
// defaults, 1.6% with these settings, the broker thread's share falling from 25% to 19%. Cost: up to 64 MiB
// of freed memory at the top of each malloc arena stays mapped for reuse. Called first thing in main() by
// gridsentinel and by bench/bare_consume_bench (the same allocator for the ceiling as for the product).
// Settings in GLIBC_TUNABLES still apply to anything not set here.
#include <malloc.h>

namespace gridsentinel {

inline void keep_fetch_buffers_in_heap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // blocks up to 32 MiB come from the heap (glibc's dynamic maximum)
  mallopt(M_TRIM_THRESHOLD, 64 << 20);  // a heap top is returned to the OS only beyond 64 MiB free
}

}  // namespace gridsentinel
