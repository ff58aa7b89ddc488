#include "pipeline/KafkaRunner.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

namespace gridsentinel::pipeline {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

kafka::Properties client_properties(const config::Config& cfg, const std::string& bootstrap,
                                    const std::map<std::string, std::string>& specific, int loop) {
  kafka::Properties p = cfg.kafka.properties;
  for (const auto& [k, v] : specific) p[k] = v;
  p["bootstrap.servers"] = bootstrap;
  p.try_emplace("client.id", "gridsentinel");
  // Each stream thread's clients are told apart in the broker's logs and quotas by a suffix.
  if (cfg.kafka.stream_threads > 1) p["client.id"] += "-" + std::to_string(loop);
  // librdkafka backs reconnects off up to 10 s by default: measured 9.5 s to resume after a 30 s broker
  // outage, 0.14 s with 1 s (tests/integration/fault_injection_test.cc).
  p.try_emplace("reconnect.backoff.max.ms", "1000");
  return p;
}

}  // namespace

kafka::Properties consumer_prefetch_defaults() {
  // librdkafka 2.0.2 stops fetching a partition for up to 1 s (its rd_kafka_max_block_ms; configurable only
  // from 2.2 as fetch.queue.backoff.ms) once the consumer's local queue holds queued.min.messages messages or
  // queued.max.messages.kbytes. A queue shorter than a second of processing therefore runs dry and the loop
  // idles: with 100k messages (~8.7 MB of readings) the bare consumer took 1.0, 2.0 or 3.0 s for the same 1M
  // records (whole-second stalls). The message bound is raised so that the byte bound is the one that
  // applies. The byte bound counts payload only: each queued message also holds librdkafka's structures and a
  // share of its fetch buffer, about 8x an 87-byte reading. At 32 MiB (~385k readings) each consumer's
  // broker-thread malloc arena had grown to 258-276 MB, resident after the queue drained (malloc_stats() at
  // the end of two 1M-meter runs of bench/e2e/run_e2e.sh; 62-158 MB at 16 MiB). More prefetch also cost CPU:
  // in one bench run alternating the two (100k meters, 3 runs each) 16 MiB read 357k readings/s at 249k per
  // CPU-second, 32 MiB 300k at 214k, with a peak RSS of 530-537 against 669-748 thousand kB. 16 MiB is ~190k
  // readings, about a second of one of those two stream threads (~180k readings/s each). With one stream
  // thread (the default), 2 runs each: 16 MiB 245k-249k readings/s, 32 MiB 233k-254k, peak 389-396 against
  // 490-510 thousand kB.
  return {{"queued.min.messages", "1000000"}, {"queued.max.messages.kbytes", "16384"}};
}

KafkaRunner::KafkaRunner(const config::Config& cfg, const std::string& bootstrap, sinks::Metrics& metrics,
                         sinks::HealthState* health, int loop)
    : cfg_(cfg),
      metrics_(metrics),
      processor_(cfg, metrics),
      assigned_gauge_(metrics.assigned_partitions()),
      inflight_gauge_(metrics.inflight_records()),
      restoring_gauge_(*metrics.state().restoring_partitions),
      paused_gauge_(metrics.paused_partitions()),
      record_to_ack_batch_(metrics.record_to_ack_seconds()),
      record_e2e_batch_(metrics.record_e2e_seconds()),
      health_(health),
      loop_(loop) {
  for (const auto& t : cfg.topics.inputs) lag_gauges_.emplace_back(metrics.consumer_lag(t.name));
  kafka::Properties pp = client_properties(cfg, bootstrap, cfg.kafka.producer_properties, loop);
  pp.try_emplace("linger.ms", "5");
  pp.try_emplace("acks", "all");
  pp.try_emplace("queue.buffering.max.messages", "500000");
  // librdkafka's default byte bound is 1 GiB a producer; with 64 MiB a full queue is waited out sooner (the
  // loop serves delivery reports), so a checkpoint of 1M changed meters (~1.4 GB) does not buffer it all
  // first.
  pp.try_emplace("queue.buffering.max.kbytes", "65536");
  // Outputs never time out in the producer (librdkafka's default gives up after 5 minutes): the idempotent
  // producer then retries them in order for as long as the broker is away. A timed-out output went back to
  // the backlog and was produced again after the broker's return, behind later outputs that were still
  // queued and went through: on the compacted meter-risk topic a stale band could win. The loop's own bounds
  // (limits.max_inflight_records, the pause) keep an outage from buffering more. The changelog producer keeps
  // the timeout: a checkpoint that cannot complete is written again by the next cycle.
  const bool timeout_set = pp.count("message.timeout.ms") || pp.count("delivery.timeout.ms");
  if (!timeout_set) pp["message.timeout.ms"] = "0";
  spdlog::info("producer properties: {}", kafka::redacted(pp));
  producer_ = std::make_unique<kafka::Producer>(pp, this);

  kafka::Properties cp = client_properties(cfg, bootstrap, cfg.kafka.consumer_properties, loop);
  cp["group.id"] = cfg.kafka.group_id;
  cp.try_emplace("auto.offset.reset", "earliest");
  cp.try_emplace("enable.auto.commit", "true");
  cp.try_emplace("auto.commit.interval.ms", "1000");
  cp.try_emplace("statistics.interval.ms", "5000");
  for (const auto& [key, value] : consumer_prefetch_defaults()) cp.try_emplace(key, value);
  spdlog::info("consumer properties: {}", kafka::redacted(cp));
  std::vector<std::string> topics;
  for (const auto& t : cfg.topics.inputs) topics.push_back(t.name);
  if (cfg.state.changelog) {
    for (const auto& t : cfg.topics.inputs)
      changelog_topics_.push_back(cfg.state.changelog_for(cfg.kafka.group_id, t.name));
    kafka::Properties sp = pp;
    if (!timeout_set) sp.erase("message.timeout.ms");
    sp["linger.ms"] = "20";
    sp["compression.type"] = cfg.kafka.producer_properties.count("compression.type")
                                 ? cfg.kafka.producer_properties.at("compression.type")
                                 : "lz4";
    changelog_producer_ = std::make_unique<kafka::Producer>(sp, &changelog_listener_);
    last_checkpoint_gauge_ = &metrics.last_checkpoint_timestamp(static_cast<uint32_t>(loop));
    last_checkpoint_gauge_->SetToCurrentTime();  // the start: an instance that never checkpoints ages from it
    changelog_reader_ = std::make_unique<kafka::PartitionReader>(
        client_properties(cfg, bootstrap, cfg.kafka.consumer_properties, loop));
    spdlog::info("state changelog: {} (checkpoint every {} ms)", fmt::join(changelog_topics_, ", "),
                 cfg.state.checkpoint_interval_ms);
  }
  last_checkpoint_ = std::chrono::steady_clock::now();
  checkpoint_gap_ = std::chrono::milliseconds(cfg.state.checkpoint_interval_ms);
  wall_minus_mono_us_ = wall_us() - mono_ns() / 1000;
  consumer_ = std::make_unique<kafka::Consumer>(cp, topics, this);
}

KafkaRunner::~KafkaRunner() {
  // Members are destroyed in reverse order of declaration, yet closing the consumer calls back into this
  // object (on_revoked) and a producer's destructor serves delivery reports (on_delivery): both run here,
  // while everything they use is alive. After run() the consumer is closed already; this matters when an
  // exception left run().
  try {
    if (consumer_) consumer_->close();
  } catch (const std::exception& e) {
    spdlog::error("closing the consumer: {}", e.what());
  }
  changelog_producer_.reset();
  producer_.reset();
  set_assigned(0);
}

void KafkaRunner::flush_metrics() {
  processor_.flush_metrics();
  record_to_ack_batch_.flush();
  record_e2e_batch_.flush();
}

void KafkaRunner::set_assigned(int n) {
  assigned_gauge_.set(n);
  if (health_) health_->assigned_partitions.fetch_add(n - assigned_);
  assigned_ = n;
}

void KafkaRunner::on_assigned(std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances(true).Increment();
  // A new assignment starts unpaused (on_revoked resumed the previous one).
  set_paused(false);
  assignment_.clear();
  for (const auto& p : partitions) {
    tracker_.assign(p.topic, p.partition);
    assignment_.push_back({p.topic, p.partition});
  }
  processor_.reset_partition_progress();
  homes_.clear();
  clear_positions();
  checkpointed_offsets_.clear();
  forget_background_cycle();
  for (const auto& p : partitions) {
    const int ti = processor_.topic_index(p.topic);
    if (ti >= 0) homes_.push_back(Processor::home_of(static_cast<size_t>(ti), p.partition));
  }
  std::sort(homes_.begin(), homes_.end());
  if (changelog_producer_) {
    restore(partitions);
  } else if (const size_t gone = processor_.drop_all_but(homes_); gone > 0) {
    // No changelog: state stays where it was built. Partitions assigned again keep theirs; entities of those
    // that went elsewhere are released here (with the changelog, on_revoked releases them all).
    spdlog::info("released {} entities of partitions no longer assigned", gone);
  }
  // Stored (and so committed) on the loop's next turn, after the assignment took effect.
  for (const auto& p : partitions)
    if (p.offset >= 0) checkpointed_offsets_.push_back({p.topic, p.partition, p.offset});
  last_checkpoint_ = std::chrono::steady_clock::now();
  set_assigned(static_cast<int>(partitions.size()));
  spdlog::info("assigned {} partitions", partitions.size());
}

void KafkaRunner::on_revoked(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances(false).Increment();
  // A pause is the application's, and librdkafka keeps it on the partition: resumed here, so that no
  // partition comes back paused in a later assignment (the next wait pauses the new one again).
  if (paused_) resume_consumption();
  // Everything derived from the revoked partitions must be acknowledged, checkpointed and committed before
  // another instance takes them over, or it would reprocess (duplicates) more than necessary. After a fatal
  // client error nothing more will be acknowledged: what is committable is committed, nothing waited for
  // (the error may have come in the poll that serves this revocation: run() ends the thread after it).
  if (!fatal_client_error().empty()) fatal_ = true;
  if (!fatal_) drain(30'000);
  store_offsets();
  if (changelog_producer_) {
    if (!fatal_) checkpoint(homes_);
    store_offsets();
    const size_t dropped = processor_.drop(homes_);
    spdlog::info("revoked: {} entities {}", dropped,
                 fatal_ ? "released, not checkpointed (a fatal client error)" : "checkpointed and released");
  }
  commit();
  for (const auto& p : partitions) tracker_.revoke(p.topic, p.partition);
  assignment_.clear();
  homes_.clear();
  clear_positions();
  forget_background_cycle();
  have_current_ = false;
  set_assigned(0);
  inflight_gauge_.set(static_cast<double>(tracker_.inflight()));
  spdlog::info("revoked {} partitions", partitions.size());
}

void KafkaRunner::on_stats(std::string_view json) {
  // Sum consumer_lag over this thread's partitions, per topic (label values: configured topics only); the
  // gauge adds up the threads (GaugeShare).
  const auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.contains("topics")) return;
  for (size_t ti = 0; ti < cfg_.topics.inputs.size(); ++ti) {
    const auto& t = cfg_.topics.inputs[ti];
    int64_t lag = 0;
    if (const auto it = doc["topics"].find(t.name); it != doc["topics"].end() && it->contains("partitions")) {
      for (const auto& [id, p] : (*it)["partitions"].items()) {
        if (id == "-1" || !p.contains("consumer_lag")) continue;
        const int64_t l = p["consumer_lag"].get<int64_t>();
        if (l > 0) lag += l;
      }
    }
    lag_gauges_[ti].set(static_cast<double>(lag));
  }
}

void KafkaRunner::on_error(std::string_view what, bool fatal) {
  if (fatal) spdlog::error("kafka fatal error: {}", what);
}

void KafkaRunner::on_delivery(uint64_t token, const kafka::UndeliveredMessage* failed,
                              std::string_view error) {
  if (token >= outgoing_.size() || !outgoing_[token].in_use) return;
  Outgoing& o = outgoing_[token];
  if (failed) {
    // Not lost: retried from the main loop with the same token; its record's offset stays uncommitted
    // meanwhile.
    metrics_.producer_errors("delivery_failed").Increment();
    // At most one line per 10 s: a permanent error (ACLs on the topic) fails every retry at once.
    ++unreported_delivery_failures_;
    if (const auto t = std::chrono::steady_clock::now();
        t - last_delivery_report_ >= std::chrono::seconds(10)) {
      spdlog::warn("delivery to {} failed ({}); retrying ({} failed deliveries since the last report)",
                   failed->topic, error, unreported_delivery_failures_);
      last_delivery_report_ = t;
      unreported_delivery_failures_ = 0;
    }
    backlog_.emplace_back(token, *failed);
    return;
  }
  if (o.event_time_ms >= 0) {
    ++alerts_acked_;
    metrics_.event_to_ack_seconds().Observe(static_cast<double>(wall_ms() - o.event_time_ms) / 1000.0);
  }
  const auto record = o.record;
  o.in_use = false;
  free_outgoing_.push_back(static_cast<uint32_t>(token));
  const int64_t now = mono_ns();
  tracker_.release(record, [&](int64_t consumed_ns, int64_t created_ms) {
    observe_completion(now, consumed_ns, created_ms);
  });
}

void KafkaRunner::observe_completion(int64_t now_ns, int64_t consumed_ns, int64_t created_ms) {
  record_to_ack_batch_.observe(static_cast<double>(now_ns - consumed_ns) / 1e9);
  // Wall time from the monotonic reading and the turn's offset between the clocks: one clock read per record.
  // Clock skew between a producer and this host can make the difference negative: counted as 0.
  if (created_ms > 0) {
    const int64_t wall = now_ns / 1000 + wall_minus_mono_us_;
    record_e2e_batch_.observe(static_cast<double>(std::max<int64_t>(0, wall - created_ms * 1000)) / 1e6);
  }
}

void KafkaRunner::produce(const std::string& topic, std::string_view key, std::string_view value,
                          int64_t event_time_ms, std::span<const kafka::Header> headers) {
  uint32_t slot;
  if (!free_outgoing_.empty()) {
    slot = free_outgoing_.back();
    free_outgoing_.pop_back();
  } else {
    slot = static_cast<uint32_t>(outgoing_.size());
    outgoing_.emplace_back();
  }
  ++produce_calls_;
  outgoing_[slot] = {current_, event_time_ms, true};
  tracker_.add_pending(current_);
  if (backlog_.empty()) {
    std::string err;
    const auto st = producer_->produce(topic, key, value, slot, headers, &err);
    if (st == kafka::Producer::Status::kOk) return;
    if (st == kafka::Producer::Status::kQueueFull) {
      metrics_.producer_errors("queue_full").Increment();
    } else {
      note_produce_failure(topic, err);
    }
  }
  // Never waited for here (this runs inside Processor::process, and a wait would keep the consumer from being
  // polled): queued behind the outputs already waiting, in order, and handed to the producer by
  // serve_producer. The loop consumes nothing more until the backlog is empty (run()).
  kafka::UndeliveredMessage m{topic, std::string(key), std::string(value), {}};
  for (const auto& h : headers) m.headers.emplace_back(h.name, h.value);
  backlog_.emplace_back(slot, std::move(m));
}

void KafkaRunner::note_produce_failure(const std::string& topic, std::string_view error) {
  metrics_.producer_errors("produce_failed").Increment();
  if (produce_failures_++ % 100 == 0)
    spdlog::error("produce to {} failed: {} ({} such failures); retrying", topic, error, produce_failures_);
}

void KafkaRunner::alert(const v1::Alert& alert) {
  if (!have_current_) return;
  alert.SerializeToString(&buffer_);
  produce(cfg_.topics.alerts, alert.entity_id(), buffer_, alert.event_time_ms(), {});
}

void KafkaRunner::risk(const v1::MeterRisk& risk) {
  if (!have_current_) return;
  risk.SerializeToString(&buffer_);
  produce(cfg_.topics.risk, risk.meter_id(), buffer_, -1, {});
}

void KafkaRunner::dead_letter(const v1::DeadLetter& dl, std::string_view key) {
  if (!have_current_) return;
  dl.SerializeToString(&buffer_);
  const std::string partition = std::to_string(dl.source_partition());
  const std::string offset = std::to_string(dl.source_offset());
  const kafka::Header headers[] = {{"gs.reason", dl.reason()},
                                   {"gs.stage", dl.stage()},
                                   {"gs.source.topic", dl.source_topic()},
                                   {"gs.source.partition", partition},
                                   {"gs.source.offset", offset}};
  produce(cfg_.topics.dead_letter, key, buffer_, -1, headers);
}

void KafkaRunner::serve_producer(int timeout_ms) {
  producer_->poll(timeout_ms);
  // The backlog keeps its original tokens, so the offset bookkeeping is unchanged. Oldest first, so that
  // outputs keep the order they were made or failed in (a compacted topic such as meter-risk keeps the last
  // value of a key: last in, first out could leave a stale band there for good).
  size_t served = 0;
  for (; served < backlog_.size(); ++served) {
    const auto& [token, msg] = backlog_[served];
    std::vector<kafka::Header> headers;
    for (const auto& [k, v] : msg.headers) headers.push_back({k, v});
    std::string err;
    const auto st = producer_->produce(msg.topic, msg.key, msg.value, token, headers, &err);
    if (st == kafka::Producer::Status::kOk) continue;
    if (st == kafka::Producer::Status::kQueueFull)
      metrics_.producer_errors("queue_full").Increment();
    else
      note_produce_failure(msg.topic, err);
    break;  // this one and the rest on the next serve
  }
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(served));
}

void KafkaRunner::store_offsets() {
  const auto committable = tracker_.take_committable();
  std::vector<kafka::TopicPartition> offsets;
  if (changelog_producer_) {
    // With state in the changelog the group's offset is the last checkpointed position, never further: a
    // new owner that finds no position record starts at the committed offset, and if that were ahead of the
    // state in the changelog, the records in between would never reach that state (a cold gap).
    offsets.swap(checkpointed_offsets_);
  } else {
    offsets.reserve(committable.size());
    for (const auto& c : committable) offsets.push_back({c.topic, c.partition, c.offset});
  }
  if (offsets.empty()) return;
  if (!consumer_->store(offsets)) spdlog::warn("storing {} offsets failed", offsets.size());
}

void KafkaRunner::drain(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // A fatal producer never delivers its backlog: not waited for (run() ends the thread on the next turn).
  while ((producer_->outstanding() > 0 || !backlog_.empty()) && std::chrono::steady_clock::now() < deadline &&
         producer_->fatal_error().empty())
    serve_producer(50);
  if (producer_->outstanding() > 0 || !backlog_.empty())
    spdlog::warn(
        "{} outputs still unacknowledged after {} ms (retried; their records' offsets stay uncommitted "
        "until they are delivered)",
        producer_->outstanding() + static_cast<int>(backlog_.size()), timeout_ms);
}

void KafkaRunner::note_position(uint64_t home, int64_t next_offset) {
  // Records come in runs of one partition: the map is searched only when the partition changes (a std::map's
  // elements stay put until erased, and positions_ is only ever cleared as a whole: clear_positions).
  if (last_position_ == nullptr || last_position_home_ != home) {
    last_position_ = &positions_[home];
    last_position_home_ = home;
  }
  *last_position_ = next_offset;
}

void KafkaRunner::clear_positions() {
  positions_.clear();
  last_position_ = nullptr;
}

void KafkaRunner::commit() {
  std::string err;
  const bool ok = consumer_->commit_sync(&err);
  metrics_.commits(ok).Increment();
  if (!ok) spdlog::warn("offset commit failed: {}", err);
}

void KafkaRunner::process_records(const std::vector<kafka::Record>& records, int64_t now_ms, int64_t now_ns) {
  // A record that completes here (no output pending) is timed with a clock read shared by up to
  // kCompletionsPerClockRead consecutive completions: at ~3 us a record, the time it reads early is far below
  // the latency histograms' finest bucket (0.5 ms), and a read per record was ~2% of the loop's CPU.
  int64_t clock_ns = now_ns;
  uint32_t since_clock_read = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const kafka::Record& r = records[i];
    if (i + 1 < records.size()) processor_.prefetch(records[i + 1]);
    // A rebalance inside poll may have revoked this record's partition: its new owner will process it.
    const auto token = tracker_.begin(r.topic, r.partition, r.offset, now_ns, r.timestamp_ms);
    if (!token) continue;
    current_ = *token;
    have_current_ = true;
    if (changelog_producer_) {
      const int ti = processor_.topic_index(r.topic);
      if (ti >= 0) note_position(Processor::home_of(static_cast<size_t>(ti), r.partition), r.offset + 1);
    }
    const uint64_t produced_before = produce_calls_;
    processor_.process(r, now_ms, *this);
    have_current_ = false;
    // Producing takes time (serializing, copying into the queue): the next completion reads the clock afresh.
    if (produce_calls_ != produced_before) since_clock_read = kCompletionsPerClockRead - 1;
    tracker_.release(*token, [&](int64_t consumed_ns, int64_t created_ms) {
      if (++since_clock_read >= kCompletionsPerClockRead) {
        clock_ns = mono_ns();
        since_clock_read = 0;
      }
      observe_completion(clock_ns, consumed_ns, created_ms);
    });
  }
}

void KafkaRunner::set_paused(bool paused) {
  paused_ = paused;
  paused_gauge_.set(paused ? static_cast<double>(assignment_.size()) : 0);
  if (!health_) return;
  // Stamped with the start of the wait, not of this pause: a rebalance resumes and the next turn pauses
  // again, and readiness must still see the whole wait.
  int64_t since = 0;
  if (paused && !assignment_.empty()) {
    const auto waited = waiting_since_ ? std::chrono::steady_clock::now() - *waiting_since_
                                       : std::chrono::steady_clock::duration::zero();
    since = wall_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  }
  health_->paused_since_ms[static_cast<size_t>(loop_)].store(since, std::memory_order_relaxed);
}

void KafkaRunner::pause_consumption() {
  set_paused(true);
  if (assignment_.empty()) return;
  if (!consumer_->pause(assignment_)) spdlog::warn("pausing {} partitions failed", assignment_.size());
  spdlog::warn(
      "{} records have waited for acknowledgements for over {} ms: {} partitions paused, the consumer "
      "polled on to stay in the group",
      tracker_.inflight(), std::chrono::duration_cast<std::chrono::milliseconds>(kPauseAfter).count(),
      assignment_.size());
}

std::string KafkaRunner::fatal_client_error() const {
  if (std::string e = producer_->fatal_error(); !e.empty()) return "output producer: " + e;
  if (changelog_producer_)
    if (std::string e = changelog_producer_->fatal_error(); !e.empty()) return "changelog producer: " + e;
  if (std::string e = consumer_->fatal_error(); !e.empty()) return "consumer: " + e;
  return {};
}

int KafkaRunner::stop_on_fatal(const std::string& what) {
  fatal_ = true;
  spdlog::critical(
      "{}: a fatal Kafka client error, from which the client cannot recover; stopping (exit code {}). "
      "Offsets are committed only up to records whose outputs were all acknowledged (none when the consumer "
      "is the fatal one: it can neither commit nor leave the group): the partitions' next owner, or this "
      "instance restarted, processes the rest again",
      what, kExitKafkaFatal);
  begin_failing_stop(kExitKafkaFatal);
  store_offsets();
  commit();
  consumer_->close();  // on_revoked waits for nothing now (fatal_)
  flush_metrics();
  return kExitKafkaFatal;
}

void KafkaRunner::begin_failing_stop(int exit_code) {
  if (!health_) return;
  int none = 0;
  health_->failure_code.compare_exchange_strong(none, exit_code);
  health_->stopping.store(true);
}

void KafkaRunner::resume_consumption() {
  set_paused(false);
  if (assignment_.empty()) return;
  if (!consumer_->resume(assignment_)) spdlog::warn("resuming {} partitions failed", assignment_.size());
  spdlog::info("{} partitions resumed", assignment_.size());
}

int KafkaRunner::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  std::vector<kafka::Record> records;
  auto last_gauges = std::chrono::steady_clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    if (health_)
      health_->loop_heartbeat_ms[static_cast<size_t>(loop_)].store(wall_ms(), std::memory_order_relaxed);
    records.clear();
    if (tracker_.inflight() >= cfg_.limits.max_inflight_records || !backlog_.empty()) {
      serve_producer(50);  // backpressure: wait for the producer and acknowledgements before consuming more
      const auto t = std::chrono::steady_clock::now();
      if (!waiting_since_) waiting_since_ = t;
      if (t - *waiting_since_ >= kPauseAfter) {
        if (!paused_) pause_consumption();
        // Keeps the member in the group and serves rebalances; paused partitions hand out nothing (a record
        // fetched before the pause is processed as any other).
        consumer_->poll(records, 10'000, 0);
      }
    } else {
      waiting_since_.reset();
      if (paused_) resume_consumption();
      consumer_->poll(records, 10'000, 100);
    }
    if (!changelog_too_small_.empty()) {
      spdlog::critical("{}: stopping", changelog_too_small_);
      begin_failing_stop(kExitChangelogTooSmall);
      consumer_->close();
      return kExitChangelogTooSmall;
    }
    const int64_t now_ns = mono_ns();
    wall_minus_mono_us_ = wall_us() - now_ns / 1000;
    if (!records.empty()) process_records(records, wall_ms(), now_ns);
    serve_producer(0);
    if (const std::string fatal = fatal_client_error(); !fatal.empty()) return stop_on_fatal(fatal);
    store_offsets();
    flush_metrics();
    if (changelog_producer_) {
      const auto t = std::chrono::steady_clock::now();
      if (cycle_) {
        continue_checkpoint_cycle(t);
      } else if (t - last_checkpoint_ > checkpoint_gap_) {
        begin_checkpoint_cycle(t);
        store_offsets();
      }
    }
    if (const auto t = std::chrono::steady_clock::now(); t - last_gauges > std::chrono::seconds(1)) {
      last_gauges = t;
      inflight_gauge_.set(static_cast<double>(tracker_.inflight()));
    }
  }
  if (const std::string fatal = fatal_client_error(); !fatal.empty()) return stop_on_fatal(fatal);
  if (health_) health_->stopping.store(true);
  spdlog::info("stopping: delivering queued outputs and committing offsets");
  drain(6'000);  // leaves the final checkpoint, commit and close time before main's 9 s shutdown deadline
  store_offsets();
  if (changelog_producer_) checkpoint(homes_);
  store_offsets();
  commit();
  consumer_->close();
  flush_metrics();
  spdlog::info("stopped cleanly");
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// State changelog

namespace {
constexpr std::string_view kPositionKey = "_pos";
constexpr std::string_view kMeterModelsKey = "_models:meter";
constexpr std::string_view kInfraModelsKey = "_models:infra";
}  // namespace

void KafkaRunner::produce_state(const std::string& topic, int32_t partition, std::string_view key,
                                const std::string_view* value) {
  checkpoint_bytes_ += key.size() + (value ? value->size() : 0);
  for (int attempt = 0;; ++attempt) {
    std::string err;
    const auto st = changelog_producer_->produce_to(topic, partition, key, value, 0, &err);
    if (st == kafka::Producer::Status::kOk) return;
    if (st == kafka::Producer::Status::kFailed) {
      ++changelog_listener_.failures;
      changelog_listener_.last_error = err;
      return;
    }
    changelog_producer_->poll(20);  // queue full: let the broker catch up
    if (stop_ && stop_->load() && attempt > 500) {
      ++changelog_listener_.failures;
      changelog_listener_.last_error = "queue full at shutdown";
      return;
    }
  }
}

void KafkaRunner::checkpoint_confirmed() {
  metrics_.state().checkpoints_ok->Increment();
  last_checkpoint_gauge_->SetToCurrentTime();
}

void KafkaRunner::forget_background_cycle() {
  cycle_.reset();
  awaiting_confirmation_ = false;
  pending_positions_.clear();
  written_positions_.clear();
  pending_models_[0].clear();
  pending_models_[1].clear();
}

Processor::StateSink KafkaRunner::changelog_sink() {
  return [this](uint64_t home, std::string_view key, const std::string_view* value) {
    produce_state(changelog_topics_[home >> 32], static_cast<int32_t>(home & 0xffffffffu), key, value);
  };
}

size_t KafkaRunner::write_entities(const std::vector<uint64_t>& homes) {
  return processor_.checkpoint(homes, false, changelog_sink());
}

void KafkaRunner::write_models(const std::vector<uint64_t>& homes, const std::string* saved) {
  bool written[2] = {false, false};
  for (const uint64_t home : homes) {  // fleet models: into the first assigned partition of the kind
    const size_t ti = home >> 32;
    const auto kind = processor_.kind_of_topic(ti);
    const int k = kind == config::InputKind::kMeter ? 0 : 1;
    if (written[k]) continue;
    written[k] = true;
    const std::string value = saved ? saved[k] : processor_.save_models(kind);
    if (!value.empty())
      produce_state(changelog_topics_[ti], static_cast<int32_t>(home & 0xffffffffu),
                    k == 0 ? kMeterModelsKey : kInfraModelsKey, value);
  }
}

void KafkaRunner::write_position(uint64_t home, Position position) {
  // Before the watermark was added the value was the offset alone; restore() reads both forms.
  StateWriter w;
  w.put<int64_t>(position.offset);
  w.put<int64_t>(position.watermark);
  produce_state(changelog_topics_[home >> 32], static_cast<int32_t>(home & 0xffffffffu), kPositionKey,
                w.bytes());
}

bool KafkaRunner::checkpoint(const std::vector<uint64_t>& homes) {
  last_checkpoint_ = std::chrono::steady_clock::now();
  const auto t0 = std::chrono::steady_clock::now();
  // 1. Everything processed so far must be acknowledged, so that the position written below is one whose
  // outputs are all delivered: a restore from it never loses an alert. Shorter waits once stopping (main
  // exits 9 s after the signal whatever happens).
  const bool stopping = stop_ && stop_->load();
  drain(stopping ? 1'000 : 30'000);
  if (producer_->outstanding() > 0 || !backlog_.empty()) {
    metrics_.state().checkpoints_deferred->Increment();
    return false;
  }
  // A background cycle's writes still on their way: let them arrive; if any failed, its entities are written
  // again below (they were marked clean when written). The positions written below supersede its own.
  changelog_producer_->flush(stopping ? 1'000 : 30'000);
  if (changelog_producer_->outstanding() > 0 || changelog_listener_.failures > 0)
    processor_.mark_dirty(homes_);
  else
    processor_.tombstones_delivered();
  forget_background_cycle();
  changelog_listener_.failures = 0;
  checkpoint_bytes_ = 0;
  // 2. Changed entities, then the models, then the positions: within a partition the broker keeps order, so a
  // position that reached the log implies every entity written before it did.
  const size_t entities = write_entities(homes);
  write_models(homes, nullptr);
  for (const uint64_t home : homes)
    if (const auto it = positions_.find(home); it != positions_.end())
      write_position(home, position_of(home, it->second));
  const bool flushed = changelog_producer_->flush(stopping ? 2'000 : 30'000);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!flushed || changelog_listener_.failures > 0) {
    metrics_.state().checkpoints_failed->Increment();
    spdlog::warn("state checkpoint failed ({} writes failed{}: {}); the entities are written again next time",
                 changelog_listener_.failures, flushed ? "" : ", flush timed out",
                 changelog_listener_.last_error);
    processor_.mark_dirty(homes);
    return false;
  }
  processor_.tombstones_delivered();
  for (const uint64_t home : homes)
    if (const auto it = positions_.find(home); it != positions_.end())
      checkpointed_offsets_.push_back({processor_.topic_name(static_cast<size_t>(home >> 32)),
                                       static_cast<int32_t>(home & 0xffffffffu), it->second});
  checkpoint_confirmed();
  metrics_.state().checkpointed_entities->Increment(static_cast<double>(entities));
  metrics_.state().checkpoint_bytes->Increment(static_cast<double>(checkpoint_bytes_));
  metrics_.state().checkpoint_seconds->Observe(secs);
  spdlog::debug("state checkpoint: {} entities, {} bytes, {:.3f} s", entities, checkpoint_bytes_, secs);
  return true;
}

KafkaRunner::Settled KafkaRunner::outputs_settled(std::chrono::steady_clock::time_point waiting_since) {
  if (producer_->outstanding() == 0 && backlog_.empty()) return Settled::kYes;
  // Usually some loop turn soon has nothing in flight; after 2 s of looking, wait for them (as a synchronous
  // checkpoint would).
  if (std::chrono::steady_clock::now() - waiting_since < std::chrono::seconds(2)) return Settled::kNotYet;
  // A short wait: this runs in the loop, where the consumer is not polled meanwhile (a broker outage would
  // otherwise hold the loop 30 s per checkpoint interval: long enough to trip /healthz and
  // max.poll.interval.ms). Acknowledgements take milliseconds when the broker is well; when it is not, the
  // cycle is given up and the next one tries again.
  drain(kSettleWaitMs);
  return producer_->outstanding() == 0 && backlog_.empty() ? Settled::kYes : Settled::kGaveUp;
}

void KafkaRunner::begin_checkpoint_cycle(std::chrono::steady_clock::time_point now) {
  changelog_producer_->poll(0);
  // The previous cycle's writes still on their way to the broker: look again on the next loop turn.
  if (changelog_producer_->outstanding() > 0) return;
  switch (outputs_settled(last_checkpoint_ + checkpoint_gap_)) {
    case Settled::kNotYet:
      return;
    case Settled::kGaveUp:
      last_checkpoint_ = now;
      metrics_.state().checkpoints_deferred->Increment();
      return;
    case Settled::kYes:
      break;
  }
  last_checkpoint_ = now;
  const bool lost = changelog_listener_.failures > 0;
  if (lost) {
    // Some of the previous cycle's writes did not arrive: its positions are no restore points, and every
    // entity (and tombstone) is written again in this one.
    metrics_.state().checkpoints_failed->Increment();
    spdlog::warn("state checkpoint failed ({} writes failed: {}); the entities are written again",
                 changelog_listener_.failures, changelog_listener_.last_error);
    processor_.mark_dirty(homes_);
    forget_background_cycle();
  } else {
    // 1. Everything written so far arrived: the positions written last cycle are restore points, and the
    // group may commit them; the tombstones need not be written again.
    processor_.tombstones_delivered();
    if (awaiting_confirmation_) checkpoint_confirmed();
    awaiting_confirmation_ = false;
    for (const auto& [home, pos] : written_positions_)
      checkpointed_offsets_.push_back({processor_.topic_name(static_cast<size_t>(home >> 32)),
                                       static_cast<int32_t>(home & 0xffffffffu), pos.offset});
    written_positions_.clear();
  }
  // Failures counted from here on are of the writes below and the slices' (a synchronous refusal included).
  changelog_listener_.failures = 0;
  // 2. The tombstones of entities evicted since (and of those not known to have arrived): before the
  // positions, so that a restore from those finds none of them. At most kMaxChangelogQueued a cycle (after
  // a mass eviction, a long turn otherwise); while more wait, or one was refused at once, no positions are
  // written (the next cycle's supersede them).
  processor_.checkpoint_tombstones(homes_, changelog_sink(), kMaxChangelogQueued);
  cycle_wrote_positions_ =
      !lost && changelog_listener_.failures == 0 && processor_.unwritten_tombstones() == 0;
  if (!cycle_wrote_positions_) {
    forget_background_cycle();
  } else {
    // 3. The last cycle's entities arrived: its models, then its positions (after their state in each
    // partition).
    write_models(homes_, pending_models_);  // empty (nothing to write) before the first cycle
    for (const auto& [home, pos] : pending_positions_) {
      write_position(home, pos);
      written_positions_.emplace(home, pos);
    }
    pending_positions_.clear();
  }
  // 4. This cycle: its models and positions now (written by the next cycle), its changed entities from now
  // on, in slices.
  bool kinds[2] = {false, false};
  for (const uint64_t home : homes_)
    kinds[processor_.kind_of_topic(home >> 32) == config::InputKind::kMeter ? 0 : 1] = true;
  pending_models_[0] = kinds[0] ? processor_.save_models(config::InputKind::kMeter) : std::string();
  pending_models_[1] = kinds[1] ? processor_.save_models(config::InputKind::kInfra) : std::string();
  for (const uint64_t home : homes_)
    if (const auto it = positions_.find(home); it != positions_.end())
      pending_positions_.emplace(home, position_of(home, it->second));
  checkpoint_bytes_ = 0;
  cycle_entities_ = 0;
  cycle_bytes_ = 0;
  const auto begun = std::chrono::steady_clock::now();
  cycle_spent_ = begun - now;
  cycle_last_slice_ = begun;
  cycle_.emplace();
  slice_credit_ = kMaxSlice - cycle_spent_;  // taking the models and positions is paid from the first slice
  slice_credit_at_ = begun;
  continue_checkpoint_cycle(begun);
}

void KafkaRunner::continue_checkpoint_cycle(std::chrono::steady_clock::time_point now) {
  // Slices earn a tenth of the wall-clock time that passes (at most kMaxSlice banked) and spend what they
  // take, so a cycle's work is spread over about ten times its length (at 100k meters changing between two
  // cycles, ~0.2-0.3 s of a thread's time over 2-3 s). Before, every turn could add a slice of 2 ms or more:
  // a lightly loaded thread then spent most of a third of a second checkpointing, both threads at once. With
  // the changelog on, p99 latency at 120k readings/s was 16.4 ms against 9.96 ms without (single runs); A/B
  // runs of this change stayed inside the run-to-run spread (README, Performance).
  slice_credit_ = std::min(slice_credit_ + (now - slice_credit_at_) / 10, kMaxSlice);
  slice_credit_at_ = now;
  if (slice_credit_ <= std::chrono::steady_clock::duration::zero()) return;
  // A slice that found the changelog producer's queue full would wait for the broker in produce_state, with
  // the consumer not polled (a changelog partition without a leader for minutes would put this member out of
  // the group): slices start only while the queue is far from full (a slice adds ~2.5k entities at most).
  // The count includes delivery reports not yet served: served here first, or it would never fall.
  changelog_producer_->poll(0);
  if (changelog_producer_->outstanding() > kMaxChangelogQueued) return;
  // Entities hold this turn's records: written only at a turn where every output is acknowledged. If that
  // fails, the cycle is given up (its positions are no restore points; its unwritten entities stay changed,
  // for the next one).
  const Settled settled = outputs_settled(cycle_last_slice_);
  if (settled == Settled::kNotYet) return;
  if (settled == Settled::kGaveUp) {
    forget_background_cycle();
    last_checkpoint_ = std::chrono::steady_clock::now();
    metrics_.state().checkpoints_deferred->Increment();
    return;
  }
  cycle_last_slice_ = now;
  const size_t written = processor_.checkpoint_slice(homes_, *cycle_, now + slice_credit_, changelog_sink());
  changelog_producer_->poll(0);
  // Counted per slice, not when the cycle ends: a cycle cut short by a synchronous checkpoint (revocation,
  // shutdown) has written its entities all the same (they were marked clean, so that one does not again).
  cycle_entities_ += written;
  cycle_bytes_ += checkpoint_bytes_;
  metrics_.state().checkpointed_entities->Increment(static_cast<double>(written));
  metrics_.state().checkpoint_bytes->Increment(static_cast<double>(checkpoint_bytes_));
  checkpoint_bytes_ = 0;
  const auto spent = std::chrono::steady_clock::now() - now;
  cycle_spent_ += spent;
  slice_credit_ -= spent;
  if (!cycle_->done()) return;
  cycle_.reset();
  const double secs = std::chrono::duration<double>(cycle_spent_).count();
  // A cycle's writes take the loop's time (serializing and queueing: 3.8 us an entity measured live at 120k
  // readings/s), more when they outrun the changelog producer's queue (a catch-up that changes every entity
  // between two checkpoints: 1M meters write ~1.4 GB a cycle). The next cycle comes no sooner than 9 times
  // this one's loop time, so checkpoints never take more than a tenth of the loop; positions are committed
  // less often meanwhile (more to reprocess after a crash, nothing lost).
  checkpoint_gap_ = std::max<std::chrono::steady_clock::duration>(
      std::chrono::milliseconds(cfg_.state.checkpoint_interval_ms), 9 * cycle_spent_);
  awaiting_confirmation_ = cycle_wrote_positions_;  // counted by the next cycle, once its writes arrived
  metrics_.state().checkpoint_seconds->Observe(secs);
  spdlog::debug("state checkpoint (background): {} entities, {} bytes, {:.3f} s of loop time",
                cycle_entities_, cycle_bytes_, secs);
}

void KafkaRunner::restore(std::vector<kafka::TopicPartition>& partitions) {
  const auto t0 = std::chrono::steady_clock::now();
  restoring_gauge_.set(static_cast<double>(partitions.size()));
  size_t ok = 0, refused = 0;
  int64_t records = 0;
  std::map<std::string, int> partition_counts;
  // One budget for the whole assignment: this runs inside the rebalance callback, and a consumer that does
  // not poll for max.poll.interval.ms leaves the group (a budget per partition allowed hours on a slow
  // changelog with many partitions).
  const auto deadline = t0 + std::chrono::milliseconds(cfg_.state.restore_timeout_ms);
  for (auto& p : partitions) {
    const int ti = processor_.topic_index(p.topic);
    if (ti < 0) continue;
    const std::string& topic = changelog_topics_[static_cast<size_t>(ti)];
    const uint64_t home = Processor::home_of(static_cast<size_t>(ti), p.partition);
    const auto t_part = std::chrono::steady_clock::now();
    // The loop is not turning meanwhile, but it is alive: /healthz must not report it stuck.
    if (health_)
      health_->loop_heartbeat_ms[static_cast<size_t>(loop_)].store(wall_ms(), std::memory_order_relaxed);
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - t_part).count();
    if (left_ms <= 0) {
      spdlog::error(
          "restoring {}/{}: the assignment's state.restore_timeout ({} ms) has passed; the "
          "partition starts cold",
          topic, p.partition, cfg_.state.restore_timeout_ms);
      continue;
    }
    std::string err;
    auto [count_it, fresh] = partition_counts.try_emplace(topic, 0);
    if (fresh) count_it->second = changelog_reader_->partition_count(topic, 10'000, &err);
    if (count_it->second <= p.partition) {
      // Checkpoints of this partition could never be written, and with the changelog on only checkpointed
      // positions are committed: every checkpoint cycle would fail and no offset of this thread would move.
      changelog_too_small_ = fmt::format(
          "state changelog {} has {} partitions, fewer than input {} ({}: partition {} assigned); create the "
          "changelog with the input's partition count and cleanup.policy=compact",
          topic, count_it->second, p.topic, err.empty() ? "its partition count" : err, p.partition);
      break;  // run() stops before processing anything
    }
    // Latest value per key wins; a tombstone deletes. Reading the whole partition into a map first makes an
    // uncompacted log restore exactly as its compacted form would.
    std::unordered_map<std::string, std::string> latest;
    const auto n = changelog_reader_->read_all(
        topic, p.partition, static_cast<int>(std::min<int64_t>(left_ms, INT32_MAX)),
        [&](int64_t, std::string_view key, const std::string_view* value) {
          if (value) {
            latest.insert_or_assign(std::string(key), std::string(*value));
          } else {
            latest.erase(std::string(key));
          }
        },
        &err);
    if (n < 0) {
      spdlog::error("restoring {}/{} failed: {}; the partition starts cold", topic, p.partition, err);
      continue;
    }
    records += n;
    metrics_.state().restore_records->Increment(static_cast<double>(n));
    const auto t_read = std::chrono::steady_clock::now();
    size_t part_ok = 0;
    bool resumed = false;
    int64_t watermark = detectors::FleetWatermark::kUnknown;
    for (const auto& [key, value] : latest) {
      if (key == kPositionKey) {
        StateReader r(value);
        int64_t pos = -1, wm = detectors::FleetWatermark::kUnknown;
        if (r.get(pos) && (r.done() || (r.get(wm) && r.done())) && pos >= 0) {
          p.offset = pos;  // consume from the checkpointed position
          positions_[home] = pos;
          resumed = true;
          watermark = wm;
        }
      } else if (key == kMeterModelsKey || key == kInfraModelsKey) {
        const auto kind = key == kMeterModelsKey ? config::InputKind::kMeter : config::InputKind::kInfra;
        if (processor_.restore_models(kind, value))
          spdlog::info("restored the {} models from {}", key.substr(8), topic);
      } else if (processor_.restore(home, key, value)) {
        ++part_ok;
      } else {
        ++refused;
      }
    }
    // A partition with restored state holds the fleet's event time back from the start, at its checkpointed
    // watermark (or, from an older checkpoint without one, until it has delivered enough readings).
    if (resumed || part_ok > 0) processor_.resume_partition_progress(home, watermark, wall_ms());
    ok += part_ok;
    restoring_gauge_.add(-1);
    spdlog::info("restored {} entities of {} [{}] from {} records of {} (read {:.3f} s, applied {:.3f} s){}",
                 part_ok, p.topic, p.partition, n, topic,
                 std::chrono::duration<double>(t_read - t_part).count(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t_read).count(),
                 p.offset >= 0 ? fmt::format(", resuming at offset {}", p.offset) : std::string());
  }
  restoring_gauge_.set(0);
  metrics_.state().restored_ok->Increment(static_cast<double>(ok));
  metrics_.state().restored_refused->Increment(static_cast<double>(refused));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics_.state().last_restore_seconds->Set(secs);
  spdlog::info("state restore: {} entities ({} refused) from {} changelog records in {:.2f} s", ok, refused,
               records, secs);
}

}  // namespace gridsentinel::pipeline
