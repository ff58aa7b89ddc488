#include "kafka/PartitionReader.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>

namespace gridsentinel::kafka {

struct PartitionReader::Impl {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
};

PartitionReader::PartitionReader(const Properties& props) : impl_(std::make_unique<Impl>()) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  Properties p = props;
  // The C++ consumer wants a group id, but assign() never joins the group and nothing is committed.
  p["group.id"] = (p.count("group.id") ? p["group.id"] : std::string("gridsentinel")) + ".changelog-reader";
  p["enable.auto.commit"] = "false";
  p["enable.partition.eof"] = "true";
  p["auto.offset.reset"] = "earliest";
  p.try_emplace("fetch.max.bytes", "52428800");
  p["fetch.wait.max.ms"] = "10";  // at the partition's end, do not let the broker hold the fetch
  for (const auto& [k, v] : p) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      throw KafkaError("kafka property '" + k + "' rejected: " + err);
  }
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl_->consumer) throw KafkaError("kafka changelog reader: " + err);
}

PartitionReader::~PartitionReader() {
  if (impl_ && impl_->consumer) impl_->consumer->close();
}

int PartitionReader::partition_count(const std::string& topic, int timeout_ms, std::string* error) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(impl_->consumer.get(), topic, nullptr, err));
  if (!t) {
    if (error) *error = err;
    return -1;
  }
  RdKafka::Metadata* raw = nullptr;
  const auto e = impl_->consumer->metadata(false, t.get(), &raw, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (e != RdKafka::ERR_NO_ERROR || !md) {
    if (error) *error = RdKafka::err2str(e);
    return -1;
  }
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      if (error) *error = RdKafka::err2str(tm->err());
      return -1;
    }
    return static_cast<int>(tm->partitions()->size());
  }
  if (error) *error = "topic not in metadata";
  return -1;
}

int64_t PartitionReader::read_all(const std::string& topic, int32_t partition, int timeout_ms,
                                  const Visitor& fn, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
               .count()));
  };
  int64_t low = 0, high = 0;
  if (const auto e = impl_->consumer->query_watermark_offsets(topic, partition, &low, &high, left_ms());
      e != RdKafka::ERR_NO_ERROR) {
    if (error)
      *error = "watermarks of " + topic + "/" + std::to_string(partition) + ": " + RdKafka::err2str(e);
    return -1;
  }
  if (high <= low) return 0;
  std::vector<RdKafka::TopicPartition*> parts{RdKafka::TopicPartition::create(topic, partition, low)};
  const auto assigned = impl_->consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (assigned != RdKafka::ERR_NO_ERROR) {
    if (error) *error = "assign " + topic + ": " + RdKafka::err2str(assigned);
    return -1;
  }
  int64_t read = 0;
  int64_t next = low;
  bool ok = true;
  while (next < high) {
    const int wait = left_ms();
    if (wait <= 0) {
      ok = false;
      if (error)
        *error = "timed out at offset " + std::to_string(next) + " of " + std::to_string(high) + " in " +
                 topic + "/" + std::to_string(partition);
      break;
    }
    std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(std::min(wait, 100)));
    if (!m || m->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) break;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      // Retention may have removed the start between the watermark query and the fetch: the reset policy
      // (earliest) moves on; other errors are transient until the deadline.
      continue;
    }
    next = m->offset() + 1;
    const std::string_view key =
        m->key_pointer() ? std::string_view(static_cast<const char*>(m->key_pointer()), m->key_len())
                         : std::string_view();
    if (m->payload()) {
      const std::string_view value(static_cast<const char*>(m->payload()), m->len());
      fn(m->offset(), key, &value);
    } else {
      fn(m->offset(), key, nullptr);
    }
    ++read;
  }
  impl_->consumer->unassign();
  return ok ? read : -1;
}

}  // namespace gridsentinel::kafka
