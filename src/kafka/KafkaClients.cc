#include "kafka/KafkaClients.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>
#include <chrono>

#include "config/Config.h"

namespace gridsentinel::kafka {

namespace {

std::unique_ptr<RdKafka::Conf> make_conf(const Properties& props) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      // The value may be a secret: name the property, never echo the value.
      throw KafkaError("kafka property '" + k + "' rejected: " + err);
    }
  }
  return conf;
}

void set_or_throw(RdKafka::Conf& conf, const std::string& k, const std::string& v) {
  std::string err;
  if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError("kafka property '" + k + "': " + err);
}

// The handle's fatal error, empty while there is none (one atomic read then).
std::string fatal_reason(const RdKafka::Handle& handle) {
  std::string reason;
  if (handle.fatal_error(reason) == RdKafka::ERR_NO_ERROR) return {};
  return reason.empty() ? "fatal error" : reason;
}

std::vector<TopicPartition> to_ours(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<TopicPartition> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back({p->topic(), p->partition(), p->offset()});
  return out;
}

struct TopicPartitionList {
  std::vector<RdKafka::TopicPartition*> parts;
  explicit TopicPartitionList(const std::vector<TopicPartition>& in) {
    for (const auto& p : in) parts.push_back(RdKafka::TopicPartition::create(p.topic, p.partition, p.offset));
  }
  ~TopicPartitionList() { RdKafka::TopicPartition::destroy(parts); }
  TopicPartitionList(const TopicPartitionList&) = delete;
  TopicPartitionList& operator=(const TopicPartitionList&) = delete;
};

// librdkafka's own log lines go to spdlog; they never contain property values.
class LogBridge : public RdKafka::EventCb {
 public:
  explicit LogBridge(Consumer::Listener* l = nullptr) : listener_(l) {}
  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_STATS:
        if (listener_) listener_->on_stats(e.str());
        break;
      case RdKafka::Event::EVENT_ERROR:
        spdlog::warn("kafka: {} ({})", e.str(), RdKafka::err2str(e.err()));
        if (listener_) listener_->on_error(e.str(), e.fatal());
        break;
      case RdKafka::Event::EVENT_LOG:
        if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
          spdlog::warn("kafka {}: {}", e.fac(), e.str());
        else
          spdlog::debug("kafka {}: {}", e.fac(), e.str());
        break;
      default:
        break;
    }
  }

 private:
  Consumer::Listener* listener_;
};

}  // namespace

std::string redacted(const Properties& props) {
  std::string out;
  for (const auto& [k, v] : props) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (config::is_secret_property(k) ? std::string("[redacted]") : v);
  }
  return out;
}

// ----------------------------------------------------------------------------------------------------
// Consumer

struct Consumer::Impl : public RdKafka::RebalanceCb {
  Listener* listener;
  LogBridge events;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::vector<std::unique_ptr<RdKafka::Message>> held;  // keeps the last poll's records alive
  bool closed = false;
  // Errors delivered as messages (an unknown topic, authorization, max.poll.interval.ms exceeded): logged at
  // most once per kErrorReportGap, with a count of those in between, so that an operator sees them without a
  // line per poll.
  static constexpr auto kErrorReportGap = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point last_error_report{};
  uint64_t unreported_errors = 0;
  uint64_t rebalances = 0;  // rebalance callbacks so far (poll drops records collected before one)

  explicit Impl(Listener* l) : listener(l), events(l) {}

  void report_message_error(const RdKafka::Message& m) {
    ++unreported_errors;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_error_report < kErrorReportGap) return;
    spdlog::warn("kafka consumer: {} ({}; {} such errors since the last report)", m.errstr(),
                 RdKafka::err2str(m.err()), unreported_errors);
    last_error_report = now;
    unreported_errors = 0;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    ++rebalances;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (listener) {
        auto ours = to_ours(partitions);
        listener->on_assigned(ours);
        for (size_t i = 0; i < partitions.size() && i < ours.size(); ++i)
          partitions[i]->set_offset(ours[i].offset);
      }
      c->assign(partitions);
    } else {
      if (listener) listener->on_revoked(to_ours(partitions));
      c->unassign();
    }
  }
};

Consumer::Consumer(const Properties& props, const std::vector<std::string>& topics, Listener* listener)
    : impl_(std::make_unique<Impl>(listener)) {
  auto conf = make_conf(props);
  set_or_throw(*conf, "enable.auto.offset.store", "false");
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl_.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl_->events), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("kafka consumer callbacks: " + err);
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl_->consumer) throw KafkaError("kafka consumer: " + err);
  if (const auto e = impl_->consumer->subscribe(topics); e != RdKafka::ERR_NO_ERROR)
    throw KafkaError("kafka subscribe: " + RdKafka::err2str(e));
}

Consumer::~Consumer() {
  close();
}

size_t Consumer::poll(std::vector<Record>& out, size_t max, int timeout_ms) {
  out.clear();
  impl_->held.clear();
  if (impl_->closed) return 0;
  int wait = timeout_ms;
  while (out.size() < max) {
    const uint64_t rebalances = impl_->rebalances;
    std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(wait));
    wait = 0;  // only the first record is waited for; the rest come from the prefetch queue or not at all
    if (impl_->rebalances != rebalances) {
      // The records collected so far belong to the assignment before it: a partition revoked and assigned
      // again in one poll would otherwise see them handed out after (and ahead of offsets before) what the
      // new assignment reads from its committed offset. Dropped: whoever owns the partition now reads them
      // again.
      out.clear();
      impl_->held.clear();
    }
    if (!m) break;
    if (m->err() == RdKafka::ERR__TIMED_OUT) break;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      if (m->err() != RdKafka::ERR__PARTITION_EOF) {
        impl_->report_message_error(*m);
        if (impl_->listener) impl_->listener->on_error(m->errstr(), false);
      }
      continue;
    }
    Record r;
    r.topic = std::string_view();
    r.partition = m->partition();
    r.offset = m->offset();
    if (m->key_pointer()) r.key = std::string_view(static_cast<const char*>(m->key_pointer()), m->key_len());
    if (m->payload()) r.value = std::string_view(static_cast<const char*>(m->payload()), m->len());
    const auto ts = m->timestamp();
    r.timestamp_ms = ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? -1 : ts.timestamp;
    impl_->held.push_back(std::move(m));
    out.push_back(r);
  }
  // Topic names: the message's topic_name() returns by value, so point into a string kept with the message.
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* raw = static_cast<const rd_kafka_message_t*>(impl_->held[i]->c_ptr());
    out[i].topic = raw && raw->rkt ? std::string_view(rd_kafka_topic_name(raw->rkt)) : std::string_view();
  }
  return out.size();
}

bool Consumer::store(const std::vector<TopicPartition>& offsets) {
  if (offsets.empty() || impl_->closed) return true;
  TopicPartitionList list(offsets);
  return impl_->consumer->offsets_store(list.parts) == RdKafka::ERR_NO_ERROR;
}

bool Consumer::commit_sync(std::string* error) {
  if (impl_->closed) return false;
  const auto e = impl_->consumer->commitSync();
  if (e == RdKafka::ERR_NO_ERROR || e == RdKafka::ERR__NO_OFFSET) return true;
  if (error) *error = RdKafka::err2str(e);
  return false;
}

bool Consumer::pause(const std::vector<TopicPartition>& partitions) {
  TopicPartitionList list(partitions);
  return impl_->consumer->pause(list.parts) == RdKafka::ERR_NO_ERROR;
}

bool Consumer::resume(const std::vector<TopicPartition>& partitions) {
  TopicPartitionList list(partitions);
  return impl_->consumer->resume(list.parts) == RdKafka::ERR_NO_ERROR;
}

void Consumer::close() {
  if (!impl_ || impl_->closed) return;
  impl_->held.clear();
  impl_->consumer->close();
  impl_->closed = true;
}

std::string Consumer::fatal_error() const {
  return fatal_reason(*impl_->consumer);
}

// ----------------------------------------------------------------------------------------------------
// Producer

struct Producer::Impl : public RdKafka::DeliveryReportCb {
  Listener* listener;
  LogBridge events;
  std::unique_ptr<RdKafka::Producer> producer;

  explicit Impl(Listener* l) : listener(l) {}

  void dr_cb(RdKafka::Message& m) override {
    if (!listener) return;
    const auto token = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m.msg_opaque()));
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      listener->on_delivery(token, nullptr, {});
      return;
    }
    UndeliveredMessage u;
    u.topic = m.topic_name();
    if (m.key_pointer()) u.key.assign(static_cast<const char*>(m.key_pointer()), m.key_len());
    if (m.payload()) u.value.assign(static_cast<const char*>(m.payload()), m.len());
    if (auto* h = m.headers()) {
      for (const auto& hdr : h->get_all())
        u.headers.emplace_back(hdr.key(),
                               std::string(static_cast<const char*>(hdr.value()), hdr.value_size()));
    }
    listener->on_delivery(token, &u, m.errstr());
  }
};

Producer::Producer(const Properties& props, Listener* listener) : impl_(std::make_unique<Impl>(listener)) {
  Properties p = props;
  p.try_emplace("enable.idempotence", "true");
  auto conf = make_conf(p);
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl_.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(&impl_->events), err) != RdKafka::Conf::CONF_OK)
    throw KafkaError("kafka producer callbacks: " + err);
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl_->producer) throw KafkaError("kafka producer: " + err);
}

Producer::~Producer() {
  if (!impl_ || !impl_->producer) return;
  // A fatal producer sends nothing more, and retried messages of its last requests would hold a flush for its
  // whole timeout: purged instead (their delivery reports say they failed; nothing waits for them).
  if (!fatal_error().empty()) {
    impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    impl_->producer->flush(1'000);
    return;
  }
  impl_->producer->flush(10'000);
}

Producer::Status Producer::produce(const std::string& topic, std::string_view key, std::string_view value,
                                   uint64_t token, std::span<const Header> headers, std::string* error) {
  RdKafka::Headers* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = RdKafka::Headers::create();
    for (const auto& h : headers) hdrs->add(std::string(h.name), h.value.data(), h.value.size());
  }
  const auto e = impl_->producer->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
      value.size(), key.data(), key.size(), 0, hdrs, reinterpret_cast<void*>(static_cast<uintptr_t>(token)));
  if (e == RdKafka::ERR_NO_ERROR) return Status::kOk;
  delete hdrs;  // not taken over on failure
  if (e == RdKafka::ERR__QUEUE_FULL) return Status::kQueueFull;
  if (error) *error = RdKafka::err2str(e);
  return Status::kFailed;
}

Producer::Status Producer::produce_to(const std::string& topic, int32_t partition, std::string_view key,
                                      const std::string_view* value, uint64_t token, std::string* error) {
  const auto e = impl_->producer->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                          value ? const_cast<char*>(value->data()) : nullptr,
                                          value ? value->size() : 0, key.data(), key.size(), 0, nullptr,
                                          reinterpret_cast<void*>(static_cast<uintptr_t>(token)));
  if (e == RdKafka::ERR_NO_ERROR) return Status::kOk;
  if (e == RdKafka::ERR__QUEUE_FULL) return Status::kQueueFull;
  if (error) *error = RdKafka::err2str(e);
  return Status::kFailed;
}

int Producer::poll(int timeout_ms) {
  return impl_->producer->poll(timeout_ms);
}
bool Producer::flush(int timeout_ms) {
  return impl_->producer->flush(timeout_ms) == RdKafka::ERR_NO_ERROR;
}
int Producer::outstanding() const {
  return impl_->producer->outq_len();
}
std::string Producer::fatal_error() const {
  return fatal_reason(*impl_->producer);
}

// ----------------------------------------------------------------------------------------------------
// MockCluster

struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    if (rk) rd_kafka_destroy(rk);
  }
};

MockCluster::MockCluster(int brokers) : impl_(std::make_unique<Impl>()) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl_->rk) throw KafkaError(std::string("mock cluster handle: ") + err);
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->rk, brokers);
  if (!impl_->cluster) throw KafkaError("mock cluster: could not start");
}

MockCluster::~MockCluster() = default;

std::string MockCluster::bootstrap_servers() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

void MockCluster::create_topic(const std::string& name, int partitions) {
  const auto e = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError("mock topic " + name + ": " + rd_kafka_err2str(e));
}

void MockCluster::set_broker_down(int32_t id) {
  rd_kafka_mock_broker_set_down(impl_->cluster, id);
}
void MockCluster::set_broker_up(int32_t id) {
  rd_kafka_mock_broker_set_up(impl_->cluster, id);
}
void MockCluster::set_broker_rtt(int32_t id, int rtt_ms) {
  rd_kafka_mock_broker_set_rtt(impl_->cluster, id, rtt_ms);
}
void MockCluster::push_request_errors(int16_t api_key, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> errs;
  errs.reserve(errors.size());
  for (int e : errors) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(impl_->cluster, api_key, errs.size(), errs.data());
}
void MockCluster::push_request_error_rtts(int32_t broker_id, int16_t api_key,
                                          const std::vector<std::pair<int, int>>& error_rtt) {
  // The C function takes its tuples as varargs; pushed one at a time they stack in the same order.
  for (const auto& [error, rtt_ms] : error_rtt) {
    const rd_kafka_resp_err_t err = rd_kafka_mock_broker_push_request_error_rtts(
        impl_->cluster, broker_id, api_key, 1, static_cast<rd_kafka_resp_err_t>(error), rtt_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw KafkaError("mock cluster: request errors for broker " + std::to_string(broker_id) + ": " +
                       rd_kafka_err2str(err));
  }
}
void MockCluster::clear_request_errors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(impl_->cluster, api_key);
}

}  // namespace gridsentinel::kafka
