# The libFuzzer targets, one per parser of untrusted input (tests/fuzz/<name>_fuzz.cpp, seeds in
# tests/fuzz/corpus/<name>/). Read by tests/fuzz/CMakeLists.txt, which builds them, and by
# tests/CMakeLists.txt, which gives each a smoke run in CTest.
set(EXECAUDIT_FUZZ_TARGETS
  kernel_record      # a ring-buffer record from the BPF programs
  io_chunk           # a stored terminal chunk (and the encoder's round trip)
  terminal_screen    # recorded output through the player's emulator
  audit_event        # an audit-log line, an audit webhook EventList
  request_uri        # a requestURI as kube-apiserver decodes it
  admission_review   # an AdmissionReview body
  cgroup_path        # a cgroup path
  kubelet_log_name   # /var/log/pods and /var/log/containers names
  pod_object         # Pod objects, PodList pages and watch streams from the API server
  utf8               # the one UTF-8 codec and the text sanitizers built on it
  host_control_filter  # recorded output on its way into an asciicast (what acts on the player's terminal)
  upload_batch       # a node's upload body at the collector (the proto framing reader)
)
