#include "recorder/pods/pod_watch.h"

#include "recorder/pods/pod_json.h"

namespace execaudit::recorder {

using nlohmann::json;

PodWatchState::PodWatchState(std::size_t max_object_bytes, PodLimits limits, std::size_t max_kept_bytes)
    : max_object_bytes_(max_object_bytes), limits_(limits), max_kept_bytes_(max_kept_bytes) {}

PodWatchState::ListPage PodWatchState::apply_list_page(std::string_view body, bool first_page) {
    ListPage page;
    if (first_page) {
        listing_.clear();
        listing_bytes_ = 0;
        refused_listing_.clear();
    }
    if (body.size() > max_object_bytes_ * 64) {
        page.error = "list page larger than the limit";
        return page;
    }
    json list = json::parse(body, nullptr, false);
    if (list.is_discarded() || !list.is_object() || json_string(list, "kind") != "PodList") {
        page.error = "not a PodList";
        return page;
    }
    auto items = list.find("items");
    if (items != list.end() && items->is_array()) {
        for (const json& item : *items) {
            std::string error;
            if (auto pod = pod_from_json(item, error, limits_)) {
                auto prev = listing_.find(pod->uid);
                std::size_t others = listing_bytes_ - (prev != listing_.end() ? prev->second->footprint() : 0);
                std::size_t bytes = pod->footprint();
                if (others + bytes <= max_kept_bytes_) {
                    std::string uid = pod->uid;  // before the move: the right side is evaluated first
                    listing_[uid] = std::make_shared<const PodInfo>(std::move(*pod));
                    listing_bytes_ = others + bytes;
                } else {
                    // Fail closed, as for a refused pod: its execs are judged as a spec unknown.
                    ++counters_.refused_pods;
                    ++counters_.over_budget_pods;
                    if (prev != listing_.end()) listing_.erase(prev);
                    listing_bytes_ = others;
                    if (refused_listing_.size() < 100'000) refused_listing_.push_back(pod->uid);
                }
            } else {
                ++counters_.refused_pods;
                auto meta = item.find("metadata");
                if (item.is_object() && meta != item.end() && meta->is_object()) {
                    std::string uid = json_string(*meta, "uid");
                    if (!uid.empty() && uid.size() <= limits_.max_string && refused_listing_.size() < 100'000)
                        refused_listing_.push_back(std::move(uid));
                }
            }
        }
    } else if (items != list.end() && !items->is_null()) {
        page.error = "PodList items is not an array";
        return page;
    }
    const json empty = json::object();
    auto meta = list.find("metadata");
    const json& m = meta != list.end() ? *meta : empty;
    page.continue_token = json_string(m, "continue");
    page.ok = true;
    if (page.continue_token.empty()) {
        pods_ = std::move(listing_);
        listing_.clear();
        kept_bytes_ = listing_bytes_;
        listing_bytes_ = 0;
        resource_version_ = json_string(m, "resourceVersion");
        ++counters_.lists;
        if (listener_) {
            listener_->replaced(pods_);
            for (const auto& uid : refused_listing_) listener_->refused(uid);
        }
        refused_listing_.clear();
    }
    return page;
}

void PodWatchState::reset_stream() {
    partial_.clear();
    skipping_ = false;
}

void PodWatchState::feed(std::string_view bytes, const std::function<void(Line)>& on_line) {
    while (!bytes.empty()) {
        auto newline = bytes.find('\n');
        std::string_view piece = bytes.substr(0, newline);
        if (!skipping_) {
            if (partial_.size() + piece.size() > max_object_bytes_) {
                skipping_ = true;
                partial_.clear();
            } else {
                partial_.append(piece);
            }
        }
        if (newline == std::string_view::npos) return;
        bytes.remove_prefix(newline + 1);
        finish_line(on_line);
    }
}

void PodWatchState::finish_line(const std::function<void(Line)>& on_line) {
    if (skipping_) {
        skipping_ = false;
        ++counters_.oversized_lines;
        on_line(Line::oversized);
        return;
    }
    std::string line = std::move(partial_);
    partial_.clear();
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;  // keep-alive blank line
    on_line(apply_line(line));
}

PodWatchState::Line PodWatchState::apply_line(std::string_view line) {
    if (line.size() > max_object_bytes_) {
        ++counters_.oversized_lines;
        return Line::oversized;
    }
    json event = json::parse(line, nullptr, false);
    auto object = event.is_object() ? event.find("object") : event.end();
    if (event.is_discarded() || !event.is_object() || object == event.end() || !object->is_object()) {
        ++counters_.garbage_lines;
        return Line::garbage;
    }
    const std::string type = json_string(event, "type");
    if (type == "ERROR") {
        auto code = object->find("code");
        if (code != object->end() && code->is_number_integer() && code->get<int64_t>() == 410) {
            ++counters_.gone;
            resource_version_.clear();
            return Line::gone;
        }
        ++counters_.error_events;
        return Line::error;
    }
    if (type != "ADDED" && type != "MODIFIED" && type != "DELETED" && type != "BOOKMARK") {
        ++counters_.garbage_lines;
        return Line::garbage;
    }
    auto meta = object->find("metadata");
    std::string version = meta != object->end() ? json_string(*meta, "resourceVersion") : std::string();
    if (version.empty() || version.size() > limits_.max_string) {
        ++counters_.garbage_lines;
        return Line::garbage;
    }
    if (type == "BOOKMARK") {
        resource_version_ = std::move(version);
        ++counters_.bookmarks;
        return Line::bookmark;
    }
    std::string error;
    auto pod = pod_from_json(*object, error, limits_);
    resource_version_ = std::move(version);  // resume past it either way: it will not become valid
    ++counters_.events;
    if (!pod) {
        // What was known of it no longer holds: a stale spec would judge its execs by old probes.
        ++counters_.refused_pods;
        if (meta != object->end() && meta->is_object()) forget(json_string(*meta, "uid"), true);
        return Line::applied;
    }
    if (type == "DELETED") {
        forget(pod->uid, false);
    } else {
        auto known = pods_.find(pod->uid);
        std::size_t others = kept_bytes_ - (known != pods_.end() ? known->second->footprint() : 0);
        std::size_t bytes = pod->footprint();
        if (others + bytes > max_kept_bytes_) {
            // Fail closed: its execs are judged as those of a pod whose spec is unknown (findings).
            ++counters_.refused_pods;
            ++counters_.over_budget_pods;
            forget(pod->uid, true);
            return Line::applied;
        }
        auto shared = std::make_shared<const PodInfo>(std::move(*pod));
        pods_[shared->uid] = shared;
        kept_bytes_ = others + bytes;
        if (listener_) listener_->changed(shared->uid, shared);
    }
    return Line::applied;
}

void PodWatchState::forget(const std::string& uid, bool refused) {
    if (uid.empty()) return;
    auto it = pods_.find(uid);
    bool known = it != pods_.end();
    if (known) {
        kept_bytes_ -= it->second->footprint();
        pods_.erase(it);
    }
    if (!listener_) return;
    if (refused) listener_->refused(uid);
    else if (known) listener_->changed(uid, nullptr);
}

const PodInfo* PodWatchState::find(std::string_view namespace_name, std::string_view name) const {
    for (const auto& [uid, pod] : pods_)
        if (pod->namespace_name == namespace_name && pod->name == name) return pod.get();
    return nullptr;
}

}  // namespace execaudit::recorder
