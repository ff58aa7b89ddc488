#pragma once
// The entity id of an infra series: "<source>/<metric>", with '%' and '/' in the metric written as "%25" and
// "%2F". The last '/' then always separates the two, so different series never share an id (joined plainly,
// source "a/b" with metric "c" and source "a" with metric "b/c" were one entity: one state, one alert
// stream). Sources keep their '/' (hierarchical host names are common); metric names rarely hold either
// character (Prometheus names cannot), so their ids are unchanged and readable. Labels are not part of the
// id: a series is its source and metric.
#include <string>
#include <string_view>

namespace gridsentinel::ingest {

inline std::string infra_entity_id(std::string_view source, std::string_view metric) {
  std::string id;
  id.reserve(source.size() + 1 + metric.size());
  id.append(source);
  id.push_back('/');
  if (metric.find_first_of("%/") == std::string_view::npos) {
    id.append(metric);
    return id;
  }
  for (const char c : metric) {
    if (c == '%')
      id.append("%25");
    else if (c == '/')
      id.append("%2F");
    else
      id.push_back(c);
  }
  return id;
}

}  // namespace gridsentinel::ingest
