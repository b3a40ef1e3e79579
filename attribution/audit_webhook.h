#pragma once
// The API server's audit webhook backend POSTs EventList batches (up to 400 events) and retries
// any non-2xx answer. 200 only once the batch is durably stored; 400 (with the reason) for a
// body that is not an EventList; 413 over the size limit (HttpServer).

#include "attribution/attribution.h"
#include "net/http_server.h"

namespace execaudit::attribution {

net::HttpHandler make_audit_webhook(Attribution& attribution);

}  // namespace execaudit::attribution
