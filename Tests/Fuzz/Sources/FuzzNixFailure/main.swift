import Foundation
import Nix

/// nix's stderr, classified as every evaluation failure is.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let failure = NixFailure.classify(String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self))
    _ = failure.headline
    return 0
}
