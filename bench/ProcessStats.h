#pragma once
// What the benchmarks measure about their own process: resident memory, CPU time, wall clock.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace gridsentinel::bench {

// Resident set size of this process, in bytes (VmRSS of /proc/self/status); 0 when unreadable.
inline double rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024.0;
}

// CPU seconds used by this process (user + system, all threads).
inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gridsentinel::bench
