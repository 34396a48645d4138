import Foundation
import Harness

/// A kept run's nodes.json, decoded as `KeptRun.find` decodes it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = try? JSONDecoder().decode([NodeEndpoint].self, from: Data(bytes: bytes, count: count))
    return 0
}
