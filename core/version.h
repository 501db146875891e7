// The cxsec release version, printed by every binary's --version.
#ifndef CXSEC_CORE_VERSION_H_
#define CXSEC_CORE_VERSION_H_

namespace cxsec {
inline constexpr char kVersion[] = "0.1.0";
}  // namespace cxsec

#endif  // CXSEC_CORE_VERSION_H_
