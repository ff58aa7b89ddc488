// Infra series ids (ingest/EntityId.h): different (source, metric) pairs never share an entity.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/Config.h"
#include "gridsentinel/v1/alert.pb.h"
#include "gridsentinel/v1/telemetry.pb.h"
#include "ingest/EntityId.h"
#include "pipeline/Processor.h"
#include "sinks/Metrics.h"

namespace gridsentinel {
namespace {

TEST(InfraEntityId, PlainNamesJoinWithASlash) {
  EXPECT_EQ(ingest::infra_entity_id("collector-1", "cpu_utilisation_ratio"),
            "collector-1/cpu_utilisation_ratio");
  EXPECT_EQ(ingest::infra_entity_id("dc1/rack4/host-7", "disk_used_ratio"),
            "dc1/rack4/host-7/disk_used_ratio");
}

TEST(InfraEntityId, NoTwoSeriesShareAnId) {
  const std::vector<std::pair<std::string, std::string>> series = {
      {"a/b", "c"},  {"a", "b/c"}, {"a", "b%2Fc"}, {"a", "b%c"},
      {"a%", "2Fc"}, {"a/", "c"},  {"a", "/c"},    {"", "a/c"}};
  std::set<std::string> ids;
  for (const auto& [source, metric] : series) ids.insert(ingest::infra_entity_id(source, metric));
  EXPECT_EQ(ids.size(), series.size());
  EXPECT_EQ(ingest::infra_entity_id("a", "b/c"), "a/b%2Fc");
  EXPECT_EQ(ingest::infra_entity_id("a", "b%2Fc"), "a/b%252Fc");
}

class Collector : public pipeline::Emitter {
 public:
  void alert(const v1::Alert&) override {}
  void dead_letter(const v1::DeadLetter&, std::string_view) override { ++dead; }
  void risk(const v1::MeterRisk&) override {}
  int dead = 0;
};

TEST(InfraEntityId, TheProcessorKeepsSeriesWhoseJoinedNamesCollideApart) {
  const auto cfg = config::parse_config("{}", "test");
  sinks::Metrics metrics({"infra-metrics"}, {});
  pipeline::Processor processor(cfg, metrics);
  Collector out;
  constexpr int64_t kT0 = 1'704'067'200'000;
  int64_t offset = 0;
  for (const auto& [source, metric] : {std::pair{"a/b", "c"}, std::pair{"a", "b/c"}}) {
    v1::InfraMetric m;
    m.set_source(source);
    m.set_metric(metric);
    m.set_value(1.0);
    m.set_event_time_ms(kT0);
    std::string value;
    m.SerializeToString(&value);
    kafka::Record rec;
    rec.topic = "infra-metrics";
    rec.partition = 0;
    rec.offset = offset++;
    rec.key = source;
    rec.value = value;
    processor.process(rec, kT0, out);
  }
  EXPECT_EQ(out.dead, 0);
  EXPECT_EQ(metrics.active_entities("infra").Value(), 2) << "one entity per series";
}

}  // namespace
}  // namespace gridsentinel
