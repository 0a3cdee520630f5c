// A ProgressCallback (hub/hub_options.h) that shows downloads on a stream, for the commands
// that download models (`vcap download`, `vcap caption` with a hub id).
//
// On a terminal: one line per file, redrawn in place at most ~10 times a second
// ("model-00001-of-00002.safetensors  37%  1.47/3.99 GB  52.3 MB/s"). Otherwise (a log file,
// a batch job): one line when a file starts and one when it is done, so logs stay short.
#ifndef VCAP_HUB_PROGRESS_PRINTER_H_
#define VCAP_HUB_PROGRESS_PRINTER_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "hub/hub_options.h"

namespace vcap::hub {

// `out` must outlive the callback. `interactive` chooses the redrawn bar; pass
// isatty(fileno(out)) for the usual choice.
ProgressCallback make_progress_printer(std::FILE* out, bool interactive);

// "1.47 GB", "532 kB", "17 B" (powers of 1000, as download sizes are usually shown).
std::string format_bytes(uint64_t bytes);

}  // namespace vcap::hub

#endif  // VCAP_HUB_PROGRESS_PRINTER_H_
